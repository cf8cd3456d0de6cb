"""numcodecs codecs for HDF5 filters that numcodecs does not ship with the
byte layout HDF5 uses. Importing this module registers them."""
from __future__ import annotations
