"""What uploaded names and metadata mean: q/k/v roles from tensor or file names, and tokens.

The matching rule. A name is ``[PREFIX SEP] ROLE``: its last word, made of letters only and
preceded by the start of the name or by a separator (``.``, ``/``, ``:``, ``_``, ``-`` or a
space), is compared case-insensitively with the role words

    q, query, queries  →  q        k, key, keys  →  k        v, value, values  →  v

and everything before that separator (lower-cased) is the name's *group*. ``layer0.q``,
``layers.3.query``, ``encoder.layer.2.attention.self.key``, ``Q`` and ``attn_v`` all match;
``q_proj``, ``query_states``, ``wq`` and ``key.weight`` do not (the last word is not a role).
Other names are ignored. The q/k/v used are those of the one group that has both q and k (v is
optional); several such groups need ``prefix=`` to choose, and two names with the same role
in one group (``q`` and ``Query``) are an error, never a guess. A separate file's role comes
from its stem by the same rule (``q.npy``, ``layer0_key.safetensors``).

Tokens: metadata keys ``tokens`` (both sides), ``query_tokens`` and ``key_tokens`` hold JSON
lists of strings. They are attacker-controlled: size-capped, parsed with ``json``, type-checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

from explorer.errors import InputError
from explorer.inputs.uploads.limits import shown

ROLES = ("q", "k", "v")
ROLE_WORDS: Mapping[str, str] = {
    "q": "q",
    "query": "q",
    "queries": "q",
    "k": "k",
    "key": "k",
    "keys": "k",
    "v": "v",
    "value": "v",
    "values": "v",
}
TOKEN_KEYS = ("tokens", "query_tokens", "key_tokens")
MAX_TOKEN_CHARS = 256  # longest single token
MAX_METADATA_CHARS = 2**22  # longest metadata value parsed as JSON
_LAST_WORD = re.compile(r"(?:^|(?P<sep>[./:_\-\s]))(?P<word>[A-Za-z]+)$")


def split_role(name: str) -> tuple[str, str] | None:
    """('layer0', 'q') for 'layer0.q', ('', 'k') for 'Key'; None when no role word ends it."""
    match = _LAST_WORD.search(name)
    if match is None or match["word"].lower() not in ROLE_WORDS:
        return None
    return name[: match.start()].lower(), ROLE_WORDS[match["word"].lower()]


def qkv_groups(names: Iterable[str]) -> dict[str, dict[str, list[str]]]:
    """group → role → names of that role, for every name that matches the rule."""
    groups: dict[str, dict[str, list[str]]] = {}
    for name in names:
        split = split_role(name)
        if split is not None:
            groups.setdefault(split[0], {}).setdefault(split[1], []).append(name)
    return groups


def _group_label(group: str) -> str:
    return shown(group) if group else "(no prefix)"


def find_qkv(names: Iterable[str], *, prefix: str | None = None) -> dict[str, str]:
    """role ('q', 'k' and, when present, 'v') → tensor name, by the module's matching rule.

    Args:
        names: the tensor names of one file.
        prefix: the group to use (e.g. ``"layer3"``) when several groups hold q and k.

    Raises:
        InputError: no group with q and k, several of them, or one role named twice.
    """
    names = list(names)
    groups = qkv_groups(names)
    if prefix is not None:
        key = prefix.lower().rstrip("./:_- ")
        if key not in groups:
            found = ", ".join(_group_label(group) for group in groups) or "none"
            raise InputError(f"no q/k/v tensors with prefix {shown(prefix)}; groups: {found}")
        groups = {key: groups[key]}
    complete = {group: roles for group, roles in groups.items() if "q" in roles and "k" in roles}
    if not complete:
        if not groups:
            listed = ", ".join(shown(name) for name in names[:8]) or "none"
            raise InputError(
                "no tensors named q/query and k/key (v/value optional, a prefix such as "
                f"'layer0.' allowed); the names are: {listed}"
            )
        group, roles = next(iter(groups.items()))
        have = ", ".join(f"{role} ({shown(found[0])})" for role, found in roles.items())
        need = " and ".join(role for role in ("q", "k") if role not in roles)
        raise InputError(f"found {have} but no {need} in group {_group_label(group)}")
    if len(complete) > 1:
        listed = ", ".join(_group_label(group) for group in complete)
        raise InputError(f"several q/k groups: {listed}; choose one with prefix=")
    roles = next(iter(complete.values()))
    for role, found in roles.items():
        if len(found) > 1:
            listed = " and ".join(shown(name) for name in found)
            raise InputError(f"both {listed} name {role}; rename or remove one")
    return {role: roles[role][0] for role in ROLES if role in roles}


def file_role(stem: str, filename: str) -> str:
    """'q', 'k' or 'v' of a separate file from its stem; InputError when it names none."""
    split = split_role(stem)
    if split is None:
        raise InputError(
            f"cannot tell whether {shown(filename)} holds q, k or v: name separate files "
            "q/k/v or query/key/value (e.g. q.npy, layer0_key.npy)"
        )
    return split[1]


def _parse_tokens(metadata: Mapping[str, str], key: str) -> tuple[str, ...] | None:
    text = metadata.get(key)
    if text is None:
        return None
    if not isinstance(text, str) or len(text) > MAX_METADATA_CHARS:
        raise InputError(f"metadata {key!r} must be a JSON string of at most {MAX_METADATA_CHARS}")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise InputError(f"metadata {key!r} is not JSON (expected a list of strings)") from None
    if not isinstance(value, list) or not all(isinstance(token, str) for token in value):
        raise InputError(f"metadata {key!r} must be a JSON list of strings")
    long = next((i for i, token in enumerate(value) if len(token) > MAX_TOKEN_CHARS), None)
    if long is not None:
        raise InputError(f"metadata {key!r} token {long} is longer than {MAX_TOKEN_CHARS} chars")
    return tuple(value)


def tokens_from_metadata(
    metadata: Mapping[str, str] | None, *, query_length: int, key_length: int
) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    """(query tokens, key tokens) from metadata, each None when absent.

    ``query_tokens``/``key_tokens`` take precedence over ``tokens``, which labels both sides.

    Raises:
        InputError: a value that is not a JSON list of strings, or whose length differs from
            the query length l (query side) or key length s (key side).
    """
    if not metadata:
        return None, None
    parsed = {key: _parse_tokens(metadata, key) for key in TOKEN_KEYS}
    result = []
    for side, length in (("query", query_length), ("key", key_length)):
        key = f"{side}_tokens" if parsed[f"{side}_tokens"] is not None else "tokens"
        tokens = parsed[key]
        if tokens is not None and len(tokens) != length:
            raise InputError(
                f"metadata {key!r} has {len(tokens)} tokens but the {side} length is {length}"
            )
        result.append(tokens)
    return result[0], result[1]
