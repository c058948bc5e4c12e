"""The y-websocket wire protocol (y-protocols sync + awareness), as pure functions.

A message is `varuint type` then a payload: SYNC (0) carries `varuint step` and a
length-prefixed update or state vector; AWARENESS (1) a length-prefixed awareness
update `varuint n, n × (varuint client, varuint clock, varstring json)`; QUERY (3)
asks for every awareness state.
"""

from __future__ import annotations

from dataclasses import dataclass

from pycrdt import Decoder, Encoder, YMessageType, YSyncMessageType

QUERY_AWARENESS = 3


class ProtocolError(ValueError):
    pass


@dataclass(frozen=True)
class SyncMessage:
    step: YSyncMessageType
    payload: bytes


@dataclass(frozen=True)
class AwarenessMessage:
    payload: bytes
    states: list[tuple[int, int, str]]  # (client id, clock, JSON state or "null")


@dataclass(frozen=True)
class QueryAwareness:
    pass


Message = SyncMessage | AwarenessMessage | QueryAwareness | None


def parse(message: bytes) -> Message:
    """Parse one client message; None for types the server ignores (auth)."""
    if not message:
        raise ProtocolError("empty message")
    try:
        kind = message[0]
        if kind == YMessageType.SYNC:
            if len(message) < 2:
                raise ProtocolError("truncated sync message")
            step = YSyncMessageType(message[1])
            payload = Decoder(message[2:]).read_message()
            if payload is None:
                raise ProtocolError("truncated sync message")
            return SyncMessage(step, payload)
        if kind == YMessageType.AWARENESS:
            payload = Decoder(message[1:]).read_message()
            if payload is None:
                raise ProtocolError("truncated awareness message")
            return AwarenessMessage(payload, parse_awareness(payload))
        if kind == QUERY_AWARENESS:
            return QueryAwareness()
        return None
    except (IndexError, RuntimeError, ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, ProtocolError):
            raise
        raise ProtocolError("malformed message") from exc


def parse_awareness(payload: bytes) -> list[tuple[int, int, str]]:
    decoder = Decoder(payload)
    count = decoder.read_var_uint()
    if count > 1000:
        raise ProtocolError("too many awareness states")
    states = []
    for _ in range(count):
        client = decoder.read_var_uint()
        clock = decoder.read_var_uint()
        length = decoder.read_var_uint()
        start = decoder.i0
        raw = bytes(decoder.stream[start : start + length])
        if len(raw) != length:
            raise ProtocolError("truncated awareness state")
        decoder.i0 += length
        decoder.length -= length
        states.append((client, clock, raw.decode("utf-8")))
    return states


def awareness_update(states: list[tuple[int, int, str]]) -> bytes:
    encoder = Encoder()
    encoder.write_var_uint(len(states))
    for client, clock, state in states:
        encoder.write_var_uint(client)
        encoder.write_var_uint(clock)
        data = state.encode("utf-8")
        encoder.write_var_uint(len(data))
        encoder.stream.append(data)
    return encoder.to_bytes()
