"""Differences between two revisions: lines, and inside changed lines the characters
(Japanese has no spaces, so a word diff would see one long word)."""
from __future__ import annotations

import difflib

from knowledge.models import KbRevision


def _segments(old: str, new: str) -> list[dict]:
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    segments = []
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op == "equal":
            segments.append({"op": "equal", "text": old[a1:a2]})
            continue
        if a2 > a1:
            segments.append({"op": "delete", "text": old[a1:a2]})
        if b2 > b1:
            segments.append({"op": "insert", "text": new[b1:b2]})
    return segments


def diff_texts(old: str, new: str) -> tuple[list[dict], dict]:
    """Line records ``{op: equal|insert|delete|replace, old_no, new_no, old, new, segments?}``."""
    old_lines, new_lines = (old or "").splitlines(), (new or "").splitlines()
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    lines: list[dict] = []
    added = removed = 0
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op == "equal":
            for k in range(a2 - a1):
                lines.append({"op": "equal", "old_no": a1 + k + 1, "new_no": b1 + k + 1,
                              "old": old_lines[a1 + k], "new": new_lines[b1 + k]})
            continue
        pairs = min(a2 - a1, b2 - b1) if op == "replace" else 0
        for k in range(pairs):
            lines.append({"op": "replace", "old_no": a1 + k + 1, "new_no": b1 + k + 1, "old": old_lines[a1 + k],
                          "new": new_lines[b1 + k], "segments": _segments(old_lines[a1 + k], new_lines[b1 + k])})
        for k in range(a1 + pairs, a2):
            lines.append({"op": "delete", "old_no": k + 1, "new_no": None, "old": old_lines[k], "new": None})
        for k in range(b1 + pairs, b2):
            lines.append({"op": "insert", "old_no": None, "new_no": k + 1, "old": None, "new": new_lines[k]})
        removed += a2 - a1
        added += b2 - b1
    return lines, {"added": added, "removed": removed}


def diff_revisions(old: KbRevision, new: KbRevision) -> dict:
    lines, stats = diff_texts(old.body, new.body)
    unified = "\n".join(difflib.unified_diff((old.body or "").splitlines(), (new.body or "").splitlines(),
                                             fromfile=f"rev {old.rev}", tofile=f"rev {new.rev}", lineterm=""))
    changed = {field: {"from": getattr(old, field), "to": getattr(new, field)}
               for field in ("visibility", "locale", "category_id", "tags") if getattr(old, field) != getattr(new, field)}
    return {"from": old.rev, "to": new.rev,
            "title": {"from": old.title, "to": new.title, "changed": old.title != new.title,
                      "segments": _segments(old.title, new.title)},
            "fields": changed, "lines": lines, "stats": stats, "unified": unified}
