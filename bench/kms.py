"""KMS calls and CPU of Encrypted fields: 1,000 writes + 1,000 reads of a model with two Encrypted fields.

Run: `python bench/kms.py [--n 1000] [--rounds 5] [--kms stub|moto]`.

DynamoDB is an instant in-process stub at the Transport seam (a dict), so the figures are the client's
own cost. KMS is either an instant stub at the same seam (`--kms stub`, default) or moto's KMS over the
lean wire (`--kms moto`: real JSON 1.1 requests, SigV4 and the one call function; needs
`aiotheory[testing]`). Printed:
- KMS calls per `n` writes and per `n` reads (the reads by a second DB, whose cache starts cold), with
  aiotheory's defaults and with TableTheory's behaviour (`DataKeyPolicy(max_uses=1, decrypt_entries=0)`:
  one GenerateDataKey per attribute written, one Decrypt per attribute read);
- the added warm CPU per item (put + get), Encrypted model vs the same model unencrypted, against the
  stub KMS (median over rounds of `time.process_time()`).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import time
from typing import Annotated, Any

from aiotheory import DB, PK, SK, DataKeyPolicy, Encrypted, Model

__all__ = ["main"]

_KEY = "arn:aws:kms:us-east-1:111111111111:key/bench"


class Plain(Model, table="bench_cards"):
    pk: Annotated[str, PK]
    sk: Annotated[str, SK]
    holder: str
    number: str
    cvv: str


class Sealed(Model, table="bench_cards"):
    pk: Annotated[str, PK]
    sk: Annotated[str, SK]
    holder: str
    number: Annotated[str, Encrypted]
    cvv: Annotated[str, Encrypted]


class _Table:
    """PutItem and GetItem over a dict; replies are copies, as a real reply is a fresh document."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    async def send(self, operation: str, payload: dict[str, Any], /) -> dict[str, Any]:
        if operation == "PutItem":
            item = payload["Item"]
            self.items[(item["pk"]["S"], item["sk"]["S"])] = item
            return {}
        key = payload["Key"]
        found = self.items.get((key["pk"]["S"], key["sk"]["S"]))
        return {} if found is None else {"Item": {**found}}

    async def close(self) -> None:
        return None


class _Kms:
    """An instant KMS: a fresh random data key per GenerateDataKey, remembered for Decrypt."""

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}
        self.calls = 0

    async def send(self, operation: str, payload: dict[str, Any], /) -> dict[str, Any]:
        self.calls += 1
        if operation == "GenerateDataKey":
            plain = base64.b64encode(os.urandom(32)).decode()
            edk = base64.b64encode(os.urandom(48)).decode()
            self.keys[edk] = plain
            return {"Plaintext": plain, "CiphertextBlob": edk}
        return {"Plaintext": self.keys[payload["CiphertextBlob"]]}

    async def close(self) -> None:
        return None


def _card(model: type[Any], i: int) -> Any:
    return model(pk="c", sk=f"{i:06d}", holder="A. Holder", number="4111-1111-1111-1111", cvv="123")


async def _calls(n: int, policy: DataKeyPolicy, kms_endpoint: str | None) -> tuple[int, int]:
    """KMS calls for `n` writes by one DB, then `n` reads by another (cold cache)."""
    table = _Table()
    stub = _Kms() if kms_endpoint is None else None
    key = _KEY if kms_endpoint is None else await _moto_key(kms_endpoint)
    common: dict[str, Any] = {
        "region": "us-east-1",
        "transport": table,
        "kms_key_id": key,
        "data_keys": policy,
    }
    if stub is not None:
        common["kms_transport"] = stub
    else:
        common.update(kms_endpoint_url=kms_endpoint, credentials=("testing", "testing"))
    writer, reader = DB(**common), DB(**common)
    for i in range(n):
        await writer.put(_card(Sealed, i))
    for i in range(n):
        await reader.get(Sealed, "c", f"{i:06d}")
    counts = writer.encryption.kms_calls, reader.encryption.kms_calls
    await writer.close()
    await reader.close()
    return counts


async def _moto_key(endpoint: str) -> str:
    from aiotheory.credentials import resolve
    from aiotheory.transport._kms import KmsTransport

    kms = KmsTransport("us-east-1", endpoint_url=endpoint, credentials=resolve(("testing", "testing"), None))
    try:
        reply = await kms.send("CreateKey", {})
    finally:
        await kms.close()
    key_id: str = reply["KeyMetadata"]["KeyId"]
    return key_id


async def _cpu(model: type[Any], n: int) -> float:
    """CPU seconds per item (one put + one get), warm."""
    db = DB(region="us-east-1", transport=_Table(), kms_transport=_Kms(), kms_key_id=_KEY)
    cards = [_card(model, i) for i in range(n)]
    for card in cards[:50]:  # warm: codec compiled, data key cached
        await db.put(card)
        await db.get(model, "c", card.sk)
    start = time.process_time()
    for card in cards:
        await db.put(card)
        await db.get(model, "c", card.sk)
    spent = time.process_time() - start
    await db.close()
    return spent / n


async def _run(n: int, rounds: int, kms: str) -> None:
    endpoint = None
    server = None
    if kms == "moto":
        from aiotheory.testing import MotoServer

        server = MotoServer().start()
        endpoint = server.endpoint_url
    try:
        ours = await _calls(n, DataKeyPolicy(), endpoint)
        tt = await _calls(n, DataKeyPolicy(max_uses=1, decrypt_entries=0), endpoint)
    finally:
        if server is not None:
            server.stop()
    print(f"KMS calls ({kms}) for {n} writes / {n} reads of a model with two Encrypted fields:")
    print(f"  aiotheory defaults        {ours[0]:>6} / {ours[1]:<6} total {sum(ours)}")
    print(f"  TableTheory (no caching)  {tt[0]:>6} / {tt[1]:<6} total {sum(tt)}")
    plain: list[float] = []
    sealed: list[float] = []
    for _ in range(rounds):  # interleaved, so drift hits both alike
        plain.append(await _cpu(Plain, n))
        sealed.append(await _cpu(Sealed, n))
    p, s = statistics.median(plain), statistics.median(sealed)
    print(f"warm CPU per item (put + get), medians of {rounds} rounds of {n}:")
    print(f"  unencrypted {p * 1e6:8.1f} us   encrypted {s * 1e6:8.1f} us   added {(s - p) * 1e6:8.1f} us")
    print(json.dumps({"kms_calls": {"aiotheory": ours, "tabletheory": tt}, "cpu_us": [p * 1e6, s * 1e6]}))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--kms", choices=("stub", "moto"), default="stub")
    args = parser.parse_args()
    asyncio.run(_run(args.n, args.rounds, args.kms))


if __name__ == "__main__":
    main()
