"""The user's own data: a ``.npz``, a ``.npy`` or a folder of PNG images, checked and loaded as an
:class:`~pyrovae.data.arrays.ArrayDataset`.

Sources
    * ``.npz`` — images under the first present key of ``images``, ``imgs``, ``x`` (in that order);
      optional ground-truth factors under ``factors``, ``labels`` or ``latents_classes`` (the official
      dSprites file works as is).
    * ``.npy`` — the images alone.
    * a folder — every ``*.png`` in it (sorted by file name, read with ``matplotlib.image.imread``), all of
      one size, all grayscale or all colour (an alpha channel is dropped); optional factors in
      ``labels.npy`` (one row per image, in sorted file order) or ``factors.csv`` (one row per image, in
      sorted file order; a header row of factor names is optional; with a header whose first column is
      ``file`` or ``filename``, that column matches rows to images by name instead).
    * ``factors=`` (an array or the path of a ``.npy``/``.csv``) overrides the factors of any source.

Normalisation
    * shape: rank 2 ``[N, D]`` (vectors, kept), rank 3 ``[N, H, W]`` (grayscale: a channel axis is added),
      rank 4 channels first ``[N, C, H, W]`` (kept when C is 1, 3 or 4) or channels last ``[N, H, W, C]``
      (transposed); anything else is an error.
    * dtype: ``uint8`` is divided by 255; ``bool`` becomes 0/1; other integers are kept when all are 0/1
      and divided by 255 when all lie in 0…255 (else an error); floats are kept (NaN/inf is an error).
      Whether the values suit the likelihood (binary for ``bernoulli``, [0, 1] for
      ``continuous-bernoulli``) is checked when training starts, by the likelihood.
    * factors: integer classes (integral floats accepted), ≥ 0, rank 1 or 2, one row per observation.

Every problem is a one-line :class:`~pyrovae.errors.PyroVAEError` that names the fix.
"""
import csv
from pathlib import Path

import numpy as np

from ..errors import PyroVAEError
from .arrays import ArrayDataset

IMAGE_KEYS = ("images", "imgs", "x")
FACTOR_KEYS = ("factors", "labels", "latents_classes")
CHANNELS = (1, 3, 4)


def load_data_file(path, factors=None, factor_names=None, name=None):
    """The user's data at ``path`` (``.npz``, ``.npy`` or a folder of PNGs) as an ``ArrayDataset`` with
    observations float32 ``[N, C, H, W]`` (or ``[N, D]``) and optional integer factors ``[N, K]``."""
    path = Path(path).expanduser()
    if not path.exists():
        raise PyroVAEError(f"data path {path} does not exist: give a .npz, a .npy or a folder of .png images")
    names = factor_names
    if path.is_dir():
        images, found, found_names = _read_folder(path)
    elif path.suffix.lower() == ".npz":
        images, found, found_names = _read_npz(path)
    elif path.suffix.lower() == ".npy":
        images, found, found_names = _load_npy(path, "images"), None, None
    else:
        raise PyroVAEError(f"cannot read {path.name}: give a .npz (key 'images'), a .npy or a folder of .png images")
    if factors is not None:
        found, found_names = (_read_factor_file(Path(factors)) if isinstance(factors, (str, Path))
                              else (np.asarray(factors), None))
    observations = normalise_images(images, source=path.name)
    if found is not None:
        found = check_factors(found, len(observations), source=path.name)
        names = names or found_names
        if names is not None and len(names) != found.shape[1]:
            raise PyroVAEError(f"{len(names)} factor names for {found.shape[1]} factor columns in {path.name}: "
                               "give one name per column")
    return ArrayDataset(observations, factors=found, factor_names=names, name=name or path.stem)


def normalise_images(images, source="data"):
    """Check and normalise an image array: float32 ``[N, C, H, W]`` (or ``[N, D]``), see the module doc."""
    images = np.asarray(images)
    if images.dtype == object or not (np.issubdtype(images.dtype, np.number) or images.dtype == np.bool_):
        raise PyroVAEError(f"{source}: images must be numeric, got dtype {images.dtype}: store numbers "
                           "(uint8 0..255, or floats)")
    if np.iscomplexobj(images):
        raise PyroVAEError(f"{source}: images must be real numbers, got complex dtype {images.dtype}")
    if images.ndim < 2 or images.ndim > 4:
        raise PyroVAEError(f"{source}: images must have rank 2 [N, D], 3 [N, H, W] or 4 [N, C, H, W] / "
                           f"[N, H, W, C], got shape {images.shape}: reshape them with the batch axis first")
    if images.shape[0] == 0 or any(s == 0 for s in images.shape):
        raise PyroVAEError(f"{source}: the image array is empty (shape {images.shape})")
    if images.ndim == 3:
        images = images[:, None]
    elif images.ndim == 4:
        if images.shape[1] in CHANNELS:
            pass  # channels first
        elif images.shape[-1] in CHANNELS:
            images = images.transpose(0, 3, 1, 2)
        else:
            raise PyroVAEError(f"{source}: cannot tell the channel axis of shape {images.shape} (1, 3 or 4 "
                               "channels expected on axis 1 or the last axis): store [N, C, H, W]")
    if images.dtype == np.bool_:
        return images.astype(np.float32)
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    if np.issubdtype(images.dtype, np.integer):
        low, high = images.min(), images.max()
        if low >= 0 and high <= 1:
            return images.astype(np.float32)
        if low >= 0 and high <= 255:
            return images.astype(np.float32) / 255.0
        raise PyroVAEError(f"{source}: integer images with values in [{low}, {high}] are neither 0/1 nor "
                           "0..255: rescale them to floats in [0, 1]")
    images = images.astype(np.float32)
    if not np.isfinite(images).all():
        bad = int((~np.isfinite(images)).sum())
        raise PyroVAEError(f"{source}: the images contain {bad} NaN or infinite values: clean or drop them first")
    return images


def check_factors(factors, n, source="data"):
    """Integer factor classes ``[n, K]`` (int64) from ``factors``, or a one-line error."""
    factors = np.asarray(factors)
    if factors.ndim == 1:
        factors = factors[:, None]
    if factors.ndim != 2:
        raise PyroVAEError(f"{source}: factors must have shape [N] or [N, K], got {factors.shape}")
    if factors.shape[0] != n:
        raise PyroVAEError(f"{source}: {factors.shape[0]} label rows for {n} images: give exactly one row "
                           "of factors per image")
    if factors.dtype == np.bool_:
        factors = factors.astype(np.int64)
    if not np.issubdtype(factors.dtype, np.number):
        raise PyroVAEError(f"{source}: factors must be integer classes, got dtype {factors.dtype}: "
                           "encode categories as 0, 1, 2, ...")
    if np.issubdtype(factors.dtype, np.floating):
        if not np.isfinite(factors).all():
            raise PyroVAEError(f"{source}: the factors contain NaN or infinite values: fill or drop those rows")
        if not (factors == np.round(factors)).all():
            raise PyroVAEError(f"{source}: factors must be integer classes, got non-integral values: "
                               "discretise continuous factors into bins 0, 1, 2, ...")
    factors = factors.astype(np.int64)
    if factors.size and factors.min() < 0:
        raise PyroVAEError(f"{source}: factor classes must be >= 0, got {int(factors.min())}: "
                           "number the classes 0, 1, 2, ...")
    return factors


def _load_npy(path, what):
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as error:
        raise PyroVAEError(f"{path.name}: cannot read the {what} ({error}): save plain numeric arrays "
                           "(no Python objects)") from None
    except OSError as error:
        raise PyroVAEError(f"{path.name} is not a readable .npy file ({error})") from None


def _read_npz(path):
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise PyroVAEError(f"{path.name} is not a readable .npz file ({error})") from None
    with archive:
        keys = list(archive.keys())
        image_key = next((k for k in IMAGE_KEYS if k in keys), None)
        if image_key is None:
            raise PyroVAEError(f"{path.name} has no images: store them under the key 'images' (found keys: "
                               f"{', '.join(keys) or 'none'})")
        try:
            images = archive[image_key]
            factor_key = next((k for k in FACTOR_KEYS if k in keys), None)
            factors = archive[factor_key] if factor_key else None
        except ValueError as error:
            raise PyroVAEError(f"{path.name}: cannot read an array ({error}): save plain numeric arrays "
                               "(no Python objects)") from None
        names = None
        if "factor_names" in keys:
            try:
                names = tuple(str(s) for s in archive["factor_names"].tolist())
            except ValueError:
                names = None
    return images, factors, names


def _read_factor_file(path):
    if not path.exists():
        raise PyroVAEError(f"factor file {path} does not exist")
    if path.suffix.lower() == ".npy":
        return _load_npy(path, "factors"), None
    if path.suffix.lower() == ".csv":
        rows, names, files = _read_csv(path)
        if files is not None:
            raise PyroVAEError(f"{path.name}: a 'file' column only works inside an image folder: drop it")
        return rows, names
    raise PyroVAEError(f"cannot read factors from {path.name}: give a .npy or a .csv")


def _read_csv(path):
    """(rows as float array [N, K], names or None, file names or None) of a factor CSV."""
    with open(path, newline="") as f:
        table = [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
    if not table:
        raise PyroVAEError(f"{path.name} is empty: give one row of factors per image")

    def numeric(row):
        try:
            [float(cell) for cell in row]
            return True
        except ValueError:
            return False

    header = None
    if not numeric(table[0]):  # a header row of names
        header, table = [c.strip() for c in table[0]], table[1:]
        if not table:
            raise PyroVAEError(f"{path.name} has a header but no rows: give one row of factors per image")
    files = None
    if header and header[0].lower() in ("file", "filename"):
        files = [row[0].strip() for row in table]
        table = [row[1:] for row in table]
        header = header[1:]
    widths = {len(row) for row in table}
    if len(widths) > 1:
        raise PyroVAEError(f"{path.name}: rows have different numbers of columns ({sorted(widths)}): "
                           "give every image the same factors")
    try:
        rows = np.array([[float(cell) for cell in row] for row in table])
    except ValueError as error:
        raise PyroVAEError(f"{path.name}: a factor is not a number ({error}): "
                           "encode categories as 0, 1, 2, ...") from None
    return rows.reshape(len(table), -1), tuple(header) if header else None, files


def _read_folder(path):
    import matplotlib.image as mpimg  # matplotlib is slow to import: only for a folder of PNGs

    files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".png")
    if not files:
        others = sorted(p.name for p in path.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".bmp", ".gif", ".tif"))
        hint = f" (found {others[0]}: convert the images to PNG)" if others else ""
        raise PyroVAEError(f"{path} holds no .png images{hint}")
    images, first = [], None
    for file in files:
        try:
            image = np.asarray(mpimg.imread(file))
        except Exception as error:  # noqa: BLE001 - any reader error is the user's file
            raise PyroVAEError(f"cannot read image {file.name} ({type(error).__name__}: {error}): "
                               "re-save it as PNG") from None
        if image.ndim == 3 and image.shape[-1] == 4:
            image = image[..., :3]  # drop alpha
        if image.ndim == 3 and image.shape[-1] == 2:  # grey + alpha
            image = image[..., 0]
        if image.dtype == np.uint8:
            image = image.astype(np.float32) / 255.0
        if first is None:
            first = (file.name, image.shape)
        elif image.shape != first[1]:
            raise PyroVAEError(f"image {file.name} has shape {image.shape} but {first[0]} has {first[1]}: "
                               "resize all images to one size (and all grayscale or all RGB)")
        images.append(image)
    images = np.stack(images)  # [N, H, W] or [N, H, W, 3]
    if images.ndim == 4:
        images = images.transpose(0, 3, 1, 2)
    factors, names = None, None
    if (path / "labels.npy").exists():
        factors = _load_npy(path / "labels.npy", "labels")
    elif (path / "factors.csv").exists():
        factors, names, listed = _read_csv(path / "factors.csv")
        if listed is not None:
            index = {name: i for i, name in enumerate(listed)}
            missing = [f.name for f in files if f.name not in index]
            if missing:
                raise PyroVAEError(f"factors.csv has no row for image {missing[0]}: add one row per image")
            factors = factors[[index[f.name] for f in files]]
    return images, factors, names
