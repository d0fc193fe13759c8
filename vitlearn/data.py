"""Data that ships inside installed packages: nothing is downloaded at run time."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from vitlearn._validate import require_positive_int, require_tensor

SAMPLE_PHOTO = "grace_hopper.jpg"  # a real photograph bundled with matplotlib (600 x 512 RGB)


def _load_photo() -> torch.Tensor:
    """The bundled photograph as a ``(1, 3, H, W)`` float tensor in [0, 1]."""
    import matplotlib.cbook as cbook
    import matplotlib.image as mpimg

    with cbook.get_sample_data(SAMPLE_PHOTO) as file:
        pixels = torch.from_numpy(mpimg.imread(file, format="jpg").copy())  # (H, W, 3) uint8
    return pixels.permute(2, 0, 1).unsqueeze(0).float() / 255.0  # (1, 3, H, W)


def sample_image(size: int | tuple[int, int] | None = 224) -> torch.Tensor:
    """A real photograph (Grace Hopper, shipped with matplotlib) as ``(1, 3, H, W)`` in [0, 1].

    ``size`` is the output ``(H, W)``, or one int for a square centre crop of that side;
    ``None`` keeps the original 600 x 512. Pick a multiple of the patch size (224 = 14 x 16).
    """
    photo = _load_photo()  # (1, 3, 600, 512)
    if size is None:
        return photo
    if isinstance(size, int):
        side = min(photo.shape[-2:])
        top = (photo.shape[-2] - side) // 2
        photo = photo[..., top : top + side, :side]  # (1, 3, 512, 512): square crop, face centred
        size = (size, size)
    height = require_positive_int(size[0], "height")
    width = require_positive_int(size[1], "width")
    resized = F.interpolate(photo, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return resized.clamp(0.0, 1.0)  # (1, 3, height, width)


class Split(NamedTuple):
    """A train/test split as tensors: images ``(n, C, H, W)`` float32, labels ``(n,)`` int64.

    ``validation_images`` / ``validation_labels`` hold a part carved out of the training data for
    choosing a recipe (``None`` when no validation part was asked for): decide on validation
    accuracy, and look at the test set once, for the configuration you report.
    """

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    validation_images: torch.Tensor | None = None
    validation_labels: torch.Tensor | None = None


VALIDATION_FRACTION = 0.2  # of the training images: 288 of 1,437 digits, every class in its share


def digits(validation: float = 0.0, seed: int = 0) -> Split:
    """scikit-learn's bundled handwritten digits (1,797 real 8x8 scans, 10 classes), the course's
    training data: a fixed, stratified 80/20 split (``random_state=0``), pixels scaled to [0, 1].

    Train: 1,437 images ``(1437, 1, 8, 8)``; test: 360. The same split everywhere, so accuracies
    are comparable (scikit-learn's ``SVC(gamma=0.001)`` gets 98.89 % on it).

    ``validation`` > 0 carves that fraction of the training images out as a validation part
    (stratified, drawn with ``seed``; ``VALIDATION_FRACTION`` = 0.2 gives 1,149 train and 288
    validation images). The test images are the same 360 whatever ``validation`` and ``seed`` are.
    """
    if isinstance(validation, bool) or not isinstance(validation, (int, float)) or not 0 <= validation < 1:
        raise ValueError(f"validation must be a fraction of the training images in [0, 1), got {validation!r}")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    train_x, test_x, train_y, test_y = train_test_split(
        bunch.images, bunch.target, test_size=0.2, stratify=bunch.target, random_state=0)

    def images(x) -> torch.Tensor:
        return torch.from_numpy(x).float().unsqueeze(1) / 16.0  # (n, 1, 8, 8), pixel values 0..16 -> [0, 1]

    def labels(y) -> torch.Tensor:
        return torch.from_numpy(y).long()  # (n,)

    if validation == 0:
        return Split(images(train_x), labels(train_y), images(test_x), labels(test_y))
    train_x, validation_x, train_y, validation_y = train_test_split(
        train_x, train_y, test_size=validation, stratify=train_y, random_state=seed)
    return Split(images(train_x), labels(train_y), images(test_x), labels(test_y),
                 images(validation_x), labels(validation_y))


def stratified_subset(labels: torch.Tensor, fraction: float, seed: int = 0) -> torch.Tensor:
    """Indices of a seeded random ``fraction`` of ``(n,)`` class ``labels``, every class kept in
    its share of the whole (stratified): a sorted ``(floor(fraction * n),)`` int64 tensor.
    ``fraction=1`` keeps everything. The same ``seed`` gives the same subset.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ValueError(f"fraction must be a number in (0, 1], got {fraction!r}")
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or labels.is_floating_point():
        raise TypeError(f"labels must be a 1-D integer tensor of classes, got "
                        f"{getattr(labels, 'dtype', type(labels).__name__)} {tuple(getattr(labels, 'shape', ()))}")
    if fraction == 1:
        return torch.arange(len(labels))
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(torch.arange(len(labels)).numpy(), train_size=fraction,
                               stratify=labels.cpu().numpy(), random_state=seed)
    return torch.from_numpy(keep).sort().values  # (floor(fraction * n),)


class TensorLoader:
    """Mini-batches ``(images (b, C, H, W), labels (b,))`` from in-memory tensors: the digits, or
    your own data. A fresh shuffle every pass when ``shuffle`` (seeded: the same order every run).

    Cheaper than ``torch.utils.data.DataLoader`` for data that already sits in one tensor: a
    batch is one indexing operation, not ``b`` item look-ups and a collate.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 64,
                 shuffle: bool = True, seed: int = 0) -> None:
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
            raise TypeError(f"images must be a float tensor (n, C, H, W), got "
                            f"{getattr(images, 'dtype', type(images).__name__)} {tuple(getattr(images, 'shape', ()))}")
        if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64 or labels.ndim != 1:
            raise TypeError(f"labels must be a 1-D int64 tensor of class indices, got "
                            f"{getattr(labels, 'dtype', type(labels).__name__)} {tuple(getattr(labels, 'shape', ()))}")
        if len(images) != len(labels) or len(images) == 0:
            raise ValueError(f"need as many labels as images (and at least one), got {len(images)} images "
                             f"and {len(labels)} labels")
        self.images, self.labels = images, labels
        self.batch_size = require_positive_int(batch_size, "batch_size")
        self.shuffle = shuffle
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return -(-len(self.images) // self.batch_size)  # batches per pass, the last one may be short

    def __iter__(self):
        n = len(self.images)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)  # (n,)
        for start in range(0, n, self.batch_size):
            batch = order[start:start + self.batch_size]
            yield self.images[batch], self.labels[batch]


def translate(images: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Move each image by its own ``(down, right)`` offset in pixels, fractions allowed, resampled
    bilinearly, zeros filling in: images ``(B, C, H, W)``, offsets ``(B, 2)`` -> ``(B, C, H, W)``.

    A whole-pixel offset moves the pixels exactly; half a pixel averages each pixel with its
    neighbour. ``F.affine_grid`` maps each output pixel to where it is read from in the input,
    hence the minus: to move the picture right, read from the left.
    """
    b, c, h, w = require_tensor(images, "images", 4, "(B, C, H, W)").shape
    if tuple(require_tensor(offsets, "offsets", 2, "(B, 2)").shape) != (b, 2):
        raise ValueError(f"offsets must have shape (B, 2) = ({b}, 2), one (down, right) pair per image, "
                         f"got {tuple(offsets.shape)}")
    theta = torch.zeros(b, 2, 3, dtype=images.dtype, device=images.device)  # (B, 2, 3): x' = A x + t
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = -2.0 * offsets[:, 1] / w  # x, in affine_grid's [-1, 1] units: 2 / w per pixel
    theta[:, 1, 2] = -2.0 * offsets[:, 0] / h  # y
    grid = F.affine_grid(theta, [b, c, h, w], align_corners=False)  # (B, H, W, 2): where each pixel reads
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_shift(images: torch.Tensor, shift: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Move each image by its own random offset, uniform in ``[-shift, shift]`` pixels down and
    right, resampled bilinearly (``translate``): ``(B, C, H, W)`` -> ``(B, C, H, W)``. The digits'
    augmentation: a digit moved by half a pixel is still the same digit, and on an 8x8 scan half a
    pixel is already a lot (a whole one is an eighth of the picture). The offsets are drawn on the
    CPU from ``generator``.
    """
    if shift == 0:
        return images
    offsets = (torch.rand(len(images), 2, generator=generator) * 2 - 1) * shift  # (B, 2) in [-shift, shift]
    return translate(images, offsets.to(images))
