"""A request's images, from its body: one image as the whole body, or several as
``multipart/form-data`` parts, read into memory within the body-size limit (a part is never
spooled to a temporary file: no path from a request to the file system)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from abyssexp.errors import AbyssExpError


class BodyError(AbyssExpError):
    """A request body that cannot be served; ``status`` is the HTTP answer (4xx)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Part:
    """One image of a request: what the client called it (echoed, never opened) and its bytes."""

    name: str
    data: bytes


async def read_limited(chunks: AsyncIterator[bytes], declared: str | None, limit: int) -> bytes:
    """The whole body, refused (413) as soon as it is declared or found larger than ``limit``.

    Raises:
        BodyError: too large (413), or an empty body (400).
    """
    too_large = f"the request body is over the limit of {limit} bytes (--max-body-mb)"
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyError(too_large, 413)
    received = bytearray()
    async for chunk in chunks:
        received += chunk
        if len(received) > limit:
            raise BodyError(too_large, 413)
    if not received:
        raise BodyError("the request body is empty; send an image, or images as multipart", 400)
    return bytes(received)


def split_parts(body: bytes, content_type: str, max_parts: int) -> list[Part]:
    """The images of a request: its parts when it is multipart, else the body itself.

    Raises:
        BodyError: a multipart body without a boundary or parts (400), or with more than
            ``max_parts`` images (413).
    """
    from python_multipart.multipart import parse_options_header

    kind, params = parse_options_header(content_type or "application/octet-stream")
    if kind != b"multipart/form-data":
        return [Part("body", body)]
    boundary = params.get(b"boundary")
    if not boundary:
        raise BodyError("multipart/form-data without a boundary; let the client set it", 400)
    parts = _parse_multipart(body, boundary, max_parts)
    if not parts:
        raise BodyError("the multipart body holds no part; send images as file parts", 400)
    return parts


def _parse_multipart(body: bytes, boundary: bytes, max_parts: int) -> list[Part]:
    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartParser, parse_options_header

    parts: list[Part] = []
    current: dict[str, bytes | bytearray] = {"data": bytearray(), "field": b"", "name": b""}
    headers: dict[bytes, bytes] = {}

    def on_header_field(data: bytes, start: int, end: int) -> None:
        current["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        headers[bytes(current["field"]).lower()] = (
            headers.get(bytes(current["field"]).lower(), b"") + data[start:end]
        )

    def on_header_end() -> None:
        current["field"] = b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        current["data"] += data[start:end]

    def on_part_end() -> None:
        if len(parts) >= max_parts:
            raise BodyError(f"more than {max_parts} images in one request (--max-batch)", 413)
        _, options = parse_options_header(headers.get(b"content-disposition", b""))
        label = options.get(b"filename") or options.get(b"name") or f"part {len(parts) + 1}"
        name = label.decode("utf-8", "replace") if isinstance(label, bytes) else label
        parts.append(Part(name[:200], bytes(current["data"])))
        current["data"] = bytearray()
        headers.clear()

    callbacks = {
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_part_data": on_part_data,
        "on_part_end": on_part_end,
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]  # its TypedDict, same keys
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise BodyError(f"the multipart body does not parse ({exc})", 400) from None
    return parts
