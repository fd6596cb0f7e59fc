"""Reading and writing notices for the IG tools: files and the recorded notice topics.

Accepted notice files:
- JSON: the notice as JSON values (as the gateway sends it to the policy), or
  `{"notice": {...}}`; for several notices a JSON array or JSON Lines (one per line);
- Avro single-object encoding of a SafeguardingNotice (`C3 01` + fingerprint + body);
- a signed envelope (single-object SignedEnvelope): its signature is verified against the
  trusted agency keys before the notice inside is used;
- an Avro object container file (`.avro`, as `safehub policy sample-notices` writes).

Every notice comes out in its JSON form (`services.hubkit.notice.to_json_value`), exactly
what the gateway gives the policy.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
import fastavro.schema

from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, open_envelope
from services.hubkit.errors import CodecError, EnvelopeError
from services.hubkit.notice import DETAIL_RECORD, to_json_value
from services.policy.errors import NoticeFileInvalid, NoticeSourceUnavailable

__all__ = [
    "LoadedNotice",
    "RecordedNotices",
    "count_notices",
    "iter_notice_file",
    "read_notice_file",
    "read_recorded_notices",
    "write_notice_file",
]

_OCF_MAGIC = b"Obj\x01"
_SINGLE_OBJECT_MAGIC = b"\xc3\x01"


@dataclass(frozen=True, slots=True)
class LoadedNotice:
    notice: dict[str, Any]
    """The notice in JSON form."""
    provenance: str
    """How it was read, e.g. "signed envelope, signature verified (key police:1a2b...)"."""


def _as_notice(value: Any, where: str) -> dict[str, Any]:
    if isinstance(value, dict) and isinstance(value.get("notice"), dict) and len(value) == 1:
        value = value["notice"]
    if not isinstance(value, dict) or "notice_type" not in value:
        raise NoticeFileInvalid(f"{where}: not a safeguarding notice (no notice_type)")
    return value


def _decode_single_object(
    data: bytes, catalog: SchemaCatalog, keys: KeyDirectory | None, where: str
) -> LoadedNotice:
    try:
        kind = catalog.message_type_of(data)
        if kind is MessageType.NOTICE:
            record = catalog.decode(data, MessageType.NOTICE)
            return LoadedNotice(to_json_value(record), "Avro single-object notice (unsigned)")
        if kind is MessageType.ENVELOPE:
            if keys is None:
                raise NoticeFileInvalid(f"{where}: a signed envelope, but no trusted keys given")
            verified = open_envelope(catalog, data, keys)
            record = catalog.decode(verified.payload, MessageType.NOTICE)
            return LoadedNotice(
                to_json_value(record),
                f"signed envelope, signature verified (key {verified.key_id})",
            )
    except (CodecError, EnvelopeError) as error:
        raise NoticeFileInvalid(f"{where}: {type(error).__name__}: {error}") from error
    raise NoticeFileInvalid(f"{where}: holds a {kind.value}, not a notice or a signed envelope")


def _ocf_records(path: Path) -> Iterator[dict[str, Any]]:
    try:
        with path.open("rb") as handle:
            for record in fastavro.reader(handle):
                if not isinstance(record, dict):
                    raise NoticeFileInvalid(f"{path}: an Avro record is not a notice")
                yield record
    except (ValueError, EOFError, fastavro.read.SchemaResolutionError) as error:
        raise NoticeFileInvalid(f"{path}: not a readable Avro file: {error}") from error


def read_notice_file(
    path: Path,
    catalog: SchemaCatalog,
    keys: KeyDirectory | None,
    *,
    notice_id: str | None = None,
) -> LoadedNotice:
    """One notice from `path` (any accepted format). From a file of several notices, the
    one with `notice_id`, or the first when none is given."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise NoticeFileInvalid(f"{path}: {error.strerror or error}") from error
    if data.startswith(_SINGLE_OBJECT_MAGIC):
        return _decode_single_object(data, catalog, keys, str(path))
    if data.startswith(_OCF_MAGIC):
        for record in _ocf_records(path):
            if notice_id is None or str(record.get("notice_id")) == notice_id:
                return LoadedNotice(to_json_value(record), f"Avro file {path.name}")
        raise NoticeFileInvalid(f"{path}: no notice {notice_id}")
    for value in _json_values(data, path):
        notice = _as_notice(value, str(path))
        if notice_id is None or notice.get("notice_id") == notice_id:
            return LoadedNotice(notice, "JSON")
    raise NoticeFileInvalid(f"{path}: no notice {notice_id}")


def _json_values(data: bytes, path: Path) -> list[Any]:
    text = data.decode("utf-8", errors="strict").strip()
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        try:  # JSON Lines
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as error:
            raise NoticeFileInvalid(
                f"{path}: not JSON, JSON Lines, Avro or a signed envelope ({error})"
            ) from error
    return value if isinstance(value, list) else [value]


def iter_notice_file(path: Path, *, json_form: bool = True) -> Iterator[dict[str, Any]]:
    """Every notice in an Avro file, a JSON array or JSON Lines.

    `json_form=False` leaves Avro records as fastavro reads them (datetimes, UUIDs): a
    simulation converts only the notices it evaluates, which saves most of the time spent
    on a large file.
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError as error:
        raise NoticeFileInvalid(f"{path}: {error.strerror or error}") from error
    if head == _OCF_MAGIC:
        for record in _ocf_records(path):
            yield to_json_value(record) if json_form else record
        return
    for value in _json_values(path.read_bytes(), path):
        yield _as_notice(value, str(path))


def count_notices(path: Path) -> int | None:
    """How many notices `iter_notice_file` will yield, found cheaply, or None if unknown.

    Avro files: the record counts in the block headers (records are not decoded). JSON
    Lines: the lines that start an object. A JSON array or an unreadable file: None (a
    progress display then shows no ETA; reading reports any error properly).
    """
    try:
        with path.open("rb") as handle:
            if handle.read(4) == _OCF_MAGIC:
                handle.seek(0)
                return sum(block.num_records for block in fastavro.block_reader(handle))
            handle.seek(0)
            first = handle.read(64).lstrip()[:1]
            if first != b"{":
                return None
            handle.seek(0)
            return sum(1 for line in handle if line.startswith(b"{"))
    except (OSError, ValueError, EOFError):
        return None


def write_notice_file(path: Path, notices: Iterable[Mapping[str, Any]], schemas_dir: Path) -> int:
    """Write notices (record shape, as the synthetic generator makes them) to an Avro file."""
    schema = fastavro.schema.load_schema(str(schemas_dir / f"{MessageType.NOTICE.value}.avsc"))
    count = 0

    def tagged() -> Iterator[dict[str, Any]]:
        nonlocal count
        for notice in notices:
            count += 1
            # Name the detail branch: several detail records have compatible shapes.
            yield {**notice, "detail": (DETAIL_RECORD[notice["notice_type"]], notice["detail"])}

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        fastavro.writer(handle, schema, tagged(), codec="deflate")
    return count


@dataclass(frozen=True, slots=True)
class RecordedNotices:
    notices: tuple[dict[str, Any], ...]
    topics: tuple[str, ...]
    skipped: int
    """Records that did not verify or decode (the gateway dead-letters those)."""


async def _read_topics(
    *,
    consumer_options: Mapping[str, Any],
    topics: Mapping[str, int],
    since: dt.datetime,
    catalog: SchemaCatalog,
    keys: KeyDirectory,
) -> RecordedNotices:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(**consumer_options)
    notices: list[dict[str, Any]] = []
    skipped = 0
    await consumer.start()
    try:
        partitions = [TopicPartition(t, p) for t, count in topics.items() for p in range(count)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.offsets_for_times(
            {tp: int(since.timestamp() * 1000) for tp in partitions}
        )
        pending = set()
        for tp in partitions:
            found = starts.get(tp)
            if found is None or found.offset >= ends[tp]:
                continue  # nothing recorded on this partition since `since`
            consumer.seek(tp, found.offset)
            pending.add(tp)
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    try:
                        verified = open_envelope(catalog, record.value, keys)
                        notice = catalog.decode(verified.payload, MessageType.NOTICE)
                    except (CodecError, EnvelopeError):
                        skipped += 1
                        continue
                    notices.append(to_json_value(notice))
            for tp in list(pending):
                # Transaction markers take offsets too: done once the position reaches the
                # end offset taken at the start (read_committed).
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
    finally:
        await consumer.stop()
    return RecordedNotices(tuple(notices), tuple(topics), skipped)


def read_recorded_notices(
    *,
    consumer_options: Mapping[str, Any],
    topics: Mapping[str, int],
    since: dt.datetime,
    catalog: SchemaCatalog,
    keys: KeyDirectory,
) -> RecordedNotices:
    """Every notice recorded on `topics` (name -> partitions) since `since`, verified.

    Read with manual assignment and no consumer group, so the gateway's committed offsets
    are never touched; read_committed, so aborted writes are never replayed.
    """
    try:
        return asyncio.run(
            _read_topics(
                consumer_options=consumer_options,
                topics=topics,
                since=since,
                catalog=catalog,
                keys=keys,
            )
        )
    except NoticeSourceUnavailable:
        raise
    except Exception as error:  # broker down, bad credentials, authorisation: say which
        raise NoticeSourceUnavailable(
            f"could not read the notice topics: {type(error).__name__}: {error}; "
            "is the stack up (`safehub stack up`)?"
        ) from error
