"""Frame: the arrays of one render, by pass name, plus metadata."""
from collections.abc import Mapping


class Frame(Mapping):
    """A read-only mapping of pass name -> numpy array, with `meta` (a dict).

    Arrays are (H, W) or (H, W, C), C-contiguous, row 0 the top of the image.
    `np.asarray(frame)` gives the `rgba` pass (or `display` when that is all there is).
    """

    __slots__ = ("_arrays", "meta")

    def __init__(self, arrays, meta=None):
        self._arrays = dict(arrays)
        self.meta = dict(meta or {})

    def __getitem__(self, name):
        try:
            return self._arrays[name]
        except KeyError:
            from ._errors import PassError, did_you_mean
            raise PassError(f"frame has no pass {name!r}{did_you_mean(name, self._arrays)}; "
                            f"it has: {', '.join(self._arrays)}", self._arrays) from None

    def __iter__(self):
        return iter(self._arrays)

    def __len__(self):
        return len(self._arrays)

    def __array__(self, dtype=None, copy=None):
        import numpy as np
        key = "rgba" if "rgba" in self._arrays else next(iter(self._arrays))
        a = self._arrays[key]
        if copy:
            return np.array(a, dtype=dtype)
        return np.asarray(a, dtype=dtype)

    def release(self):
        """Drop this frame's arrays. Their shared-memory slot goes back to its worker
        as soon as no array over it is left (arrays you still hold stay valid)."""
        self._arrays = {}

    def copy(self):
        """A Frame whose arrays are private copies (detached from shared memory)."""
        return Frame({k: v.copy() for k, v in self._arrays.items()}, self.meta)

    def __repr__(self):
        parts = ", ".join(f"{k}: {v.dtype}{list(v.shape)}" for k, v in self._arrays.items())
        return f"<Frame {self.meta.get('frame', '?')} {{{parts}}}>"
