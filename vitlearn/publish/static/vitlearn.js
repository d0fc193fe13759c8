// vitlearn's slides and site: math rendered offline by the KaTeX files beside this one, and the site's search.

function vitlearnRenderMath(element) {
  renderMathInElement(element, {
    delimiters: [
      {left: "$$", right: "$$", display: true},
      {left: "\\[", right: "\\]", display: true},
      {left: "$", right: "$", display: false},
      {left: "\\(", right: "\\)", display: false},
    ],
    ignoredTags: ["script", "noscript", "style", "textarea", "pre", "code"],
    throwOnError: false,  // a formula KaTeX cannot typeset is shown as its source, in red, not as an error
  });
}

// The search box of the site's contents page: every section whose text holds all the words typed.
// The index is window.VITLEARN_SEARCH (search-index.js): [{href, page, heading, text}, ...].
function vitlearnSearch(box, results) {
  function escape(text) {
    return text.replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
  }
  function show() {
    const words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
    if (!words.length) { results.innerHTML = ""; return; }
    const found = window.VITLEARN_SEARCH.filter(s => words.every(w => s.text.toLowerCase().includes(w)));
    results.innerHTML = found.length ? found.slice(0, 30).map(s => {
      const at = Math.max(0, s.text.toLowerCase().indexOf(words[0]) - 60);
      return `<li><a href="${escape(s.href)}">${escape(s.page)} › ${escape(s.heading)}</a>` +
             `<br><span>…${escape(s.text.slice(at, at + 160))}…</span></li>`;
    }).join("") : "<li>Nothing found.</li>";
  }
  box.addEventListener("input", show);
  box.value = new URLSearchParams(window.location.search).get("q") || "";
  show();
}
