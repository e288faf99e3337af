"""Uploaded files, safely: bytes in, checked float arrays out, or one ``InputError``.

Entry points: ``files.load_inputs`` and ``files.describe``; ``decode.read_tensor_file`` for one
file. Sizes are checked before decoding (``limits``, ``safetensors_header``, ``zip_container``,
``formats``). May import: the leaves and ``explorer.inputs``' own modules.
"""
