"""The text of an uploaded file, for chunking: plain text and Markdown as they are, PDFs'
text layer page by page (pypdf). Any other file is refused with UnsupportedFile, which
fails that file in its store (not the store, not the server)."""

from __future__ import annotations

from pathlib import Path

from berth import errors

TEXT_SUFFIXES = frozenset(
    {".txt", ".md", ".markdown", ".rst", ".text", ".csv", ".json", ".jsonl", ".html", ".htm"}
)
PDF_MAGIC = b"%PDF-"


def extract_text(path: Path, filename: str) -> str:
    """The file's text (blocks: run it in a thread); raises UnsupportedFile."""
    with path.open("rb") as stream:
        head = stream.read(len(PDF_MAGIC))
    if head == PDF_MAGIC:
        return _pdf(path, filename)
    suffix = Path(filename).suffix.lower()
    raw = path.read_bytes()
    if suffix not in TEXT_SUFFIXES and (suffix or b"\x00" in raw[:4096]):
        raise errors.UnsupportedFile(
            f"{filename}: Berth reads text, Markdown and PDF files into vector stores, not "
            f"'{suffix or 'binary'}' files. Convert it to one of those and add it again."
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise errors.UnsupportedFile(
            f"{filename} is not UTF-8 text (byte {exc.start}). Save it as UTF-8 and add it again."
        ) from None


def _pdf(path: Path, filename: str) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError) as exc:
        raise errors.UnsupportedFile(f"{filename} is not a PDF Berth can read: {exc}.") from exc
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    if not text:
        raise errors.UnsupportedFile(
            f"{filename} has no text layer (a scanned PDF?). Run OCR on it first "
            "(/v1/ocr or the ocr job kind) and add the text."
        )
    return text
