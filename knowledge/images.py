"""Images uploaded into articles: type decided by the bytes (not the name or the
declared type), size limited, served by an unguessable key."""
from __future__ import annotations

import secrets

from flask import current_app

from core.errors import ApiError, Invalid
from extensions import db
from knowledge.models import KbImage

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
# SVG is left out on purpose: it can carry scripts.
SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def sniff(data: bytes) -> str | None:
    for signature, content_type in SIGNATURES:
        if data.startswith(signature):
            return content_type
    if len(data) > 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def max_bytes() -> int:
    return int(current_app.config.get("KB_IMAGE_MAX_BYTES", DEFAULT_MAX_BYTES))


def save(stream, filename: str, uploader_id: int | None) -> KbImage:
    limit = max_bytes()
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ApiError(f"Images may be at most {limit // 1024} KB.", status=413, max_bytes=limit)
    if not data:
        raise Invalid("The file is empty.", fields={"file": ["empty"]})
    content_type = sniff(data)
    if content_type is None:
        raise Invalid("Only PNG, JPEG, GIF and WebP images can be uploaded.", fields={"file": ["not an image"]})
    image = KbImage(key=secrets.token_urlsafe(24), filename=(filename or "")[-200:], content_type=content_type,
                    size=len(data), data=data, uploaded_by_id=uploader_id)
    db.session.add(image)
    db.session.flush()
    return image


def url(image: KbImage) -> str:
    return f"/help/images/{image.key}"
