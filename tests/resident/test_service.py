"""Resident accounts: SMS codes (hashed, short-lived, few tries, rate-limited per number
and per address), the real-name check and the link to the patient record, sessions."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import World
from tests.inquiry.helpers import keys
from tests.web.test_access_matrix import ID_NUMBERS
from yiyun.audit import service as audit
from yiyun.core.clock import now
from yiyun.core.errors import Conflict, InvalidInput, NotAuthenticated, RateLimited
from yiyun.core.ratelimit import MemoryLimiter
from yiyun.notify.channels import ConsoleChannel
from yiyun.records import resident_id
from yiyun.resident import service
from yiyun.resident.config import ResidentSettings
from yiyun.resident.models import Resident, SmsCode

CFG = ResidentSettings(resend_seconds=0, codes_per_phone=3, codes_per_ip=5)
PHONE = "13812345678"


class Box:
    """One resident-to-be's SMS inbox and the shared limiter."""

    def __init__(self) -> None:
        self.sms = ConsoleChannel("sms")
        self.limiter = MemoryLimiter()

    def last_code(self) -> str:
        found = re.search(r"\b(\d{6})\b", self.sms.sent[-1].body)
        assert found, self.sms.sent[-1].body
        return found.group(1)


async def send(
    app: Any, s: AsyncSession, box: Box, phone: str = PHONE, purpose: str = service.REGISTER,
    ip: str = "10.0.0.1", cfg: ResidentSettings = CFG,
) -> bool:  # fmt: skip
    return await service.send_code(
        session=s, keys=keys(app), cfg=cfg, limiter=box.limiter, sms=box.sms, phone=phone,
        purpose=purpose, ip=ip, locale="zh_CN",
    )  # fmt: skip


async def register(app: Any, s: AsyncSession, world: World, code: str, **kw: Any) -> Resident:
    data = {
        "phone": PHONE,
        "code": code,
        "name": "王小明",
        "id_number": resident_id.make("440305", now().date().replace(year=1985), 301),
        "institution_id": world.inst["chc_a"].id,
    } | kw
    return await service.register(
        session=s, keys=keys(app), cfg=CFG, data=service.Registration(**data)
    )


async def test_a_code_is_stored_only_as_a_hash_and_works_once(
    app: Any, session: AsyncSession, world: World
) -> None:
    box = Box()
    assert await send(app, session, box)
    code = box.last_code()
    stored = (await session.scalars(select(SmsCode))).all()
    assert (
        len(stored) == 1 and code not in stored[0].code_hash and PHONE not in stored[0].phone_hash
    )
    resident = await register(app, session, world, code)
    assert resident.phone_masked == "138****5678" and PHONE not in resident.phone_enc
    with pytest.raises(InvalidInput) as err:  # used once already
        await service.check_code(
            session=session, keys=keys(app), cfg=CFG, phone=PHONE, code=code,
            purpose=service.REGISTER,
        )  # fmt: skip
    assert err.value.code == "resident.bad_code"


async def test_wrong_codes_use_up_the_code(app: Any, session: AsyncSession) -> None:
    box = Box()
    await send(app, session, box)
    code, wrong = box.last_code(), "000000" if box.last_code() != "000000" else "111111"
    for _ in range(CFG.code_max_attempts):
        with pytest.raises(InvalidInput) as err:
            await service.check_code(
                session=session, keys=keys(app), cfg=CFG, phone=PHONE, code=wrong,
                purpose=service.REGISTER,
            )  # fmt: skip
        assert err.value.keep_changes  # the failed try is kept
    with pytest.raises(InvalidInput):  # the right code no longer works
        await service.check_code(
            session=session, keys=keys(app), cfg=CFG, phone=PHONE, code=code,
            purpose=service.REGISTER,
        )  # fmt: skip


async def test_an_expired_code_is_refused(app: Any, session: AsyncSession) -> None:
    box = Box()
    await send(app, session, box)
    later = now() + timedelta(minutes=CFG.code_minutes, seconds=1)
    with pytest.raises(InvalidInput):
        await service.check_code(
            session=session, keys=keys(app), cfg=CFG, phone=PHONE, code=box.last_code(),
            purpose=service.REGISTER, at=later,
        )  # fmt: skip


async def test_codes_are_limited_per_number_and_per_address(
    app: Any, session: AsyncSession
) -> None:
    box = Box()
    for _ in range(CFG.codes_per_phone):
        await send(app, session, box)
    with pytest.raises(RateLimited) as err:
        await send(app, session, box)
    assert err.value.code == "resident.code_rate_limited"
    assert err.value.details["retry_after_minutes"] >= 1
    # the same address, other numbers: stopped by the address limit
    for n in range(CFG.codes_per_ip - CFG.codes_per_phone - 1):
        await send(app, session, box, phone=f"1390000000{n}")
    with pytest.raises(RateLimited):
        await send(app, session, box, phone="13911112222")
    # another address and number still gets one
    assert await send(app, session, box, phone="13911113333", ip="10.0.0.2")


async def test_a_second_code_must_wait(app: Any, session: AsyncSession) -> None:
    box, cfg = Box(), ResidentSettings(resend_seconds=60)
    await send(app, session, box, cfg=cfg)
    with pytest.raises(RateLimited) as err:
        await send(app, session, box, cfg=cfg)
    assert err.value.code == "resident.code_too_soon"


async def test_signing_in_to_an_unknown_number_sends_nothing(
    app: Any, session: AsyncSession
) -> None:
    box = Box()
    assert await send(app, session, box, purpose=service.SIGN_IN) is False
    assert box.sms.sent == []


async def test_the_console_channel_masks_the_number(
    app: Any, session: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    box = Box()
    with caplog.at_level(logging.INFO, logger="yiyun.notify.channels"):
        await send(app, session, box)
    assert "138****78" in caplog.text and PHONE not in caplog.text
    assert box.last_code() not in caplog.text  # the body only with show_body (development)


@pytest.mark.parametrize(
    ("id_number", "code"),
    [
        ("44030519850101301X", "patient.bad_id_number"),  # check character
        ("4403051985010130", "patient.bad_id_number"),  # too short
        ("440305" + "20990101" + "3010", "patient.bad_id_number"),  # not born yet
    ],
)
async def test_the_id_number_is_checked(
    app: Any, session: AsyncSession, world: World, id_number: str, code: str
) -> None:
    box = Box()
    await send(app, session, box)
    with pytest.raises(InvalidInput) as err:
        await register(app, session, world, box.last_code(), id_number=id_number)
    assert err.value.code == code and err.value.details["field"] == "id_number"
    assert await session.scalar(select(func.count()).select_from(Resident)) == 0


async def test_a_resident_with_a_record_is_linked_to_it(
    app: Any, session: AsyncSession, world: World
) -> None:
    box = Box()
    await send(app, session, box)
    pa = world.patients["pa"]
    resident = await register(
        app, session, world, box.last_code(), id_number=ID_NUMBERS["pa"], name=pa.name
    )
    assert resident.patient_id == pa.id
    [entry] = [e for e in audit.queued(session) if e.action == "resident.register"]
    assert entry.patient_id == pa.id and entry.actor == f"resident:{resident.id}"


async def test_a_name_that_does_not_match_the_record_is_refused(
    app: Any, session: AsyncSession, world: World
) -> None:
    box = Box()
    await send(app, session, box)
    with pytest.raises(InvalidInput) as err:
        await register(
            app, session, world, box.last_code(), id_number=ID_NUMBERS["pa"], name="冒名"
        )
    assert err.value.code == "resident.name_mismatch"


async def test_one_account_per_number(app: Any, session: AsyncSession, world: World) -> None:
    box = Box()
    await send(app, session, box)
    await register(app, session, world, box.last_code())
    await send(app, session, box)
    with pytest.raises(Conflict) as err:
        await register(
            app, session, world, box.last_code(),
            id_number=resident_id.make("440305", now().date().replace(year=1990), 303),
        )  # fmt: skip
    assert err.value.code == "resident.phone_taken"


async def test_a_session_signs_in_and_out(app: Any, session: AsyncSession, world: World) -> None:
    box = Box()
    await send(app, session, box)
    resident = await register(app, session, world, box.last_code())
    await send(app, session, box, purpose=service.SIGN_IN)
    issued = await service.sign_in(
        session=session, keys=keys(app), cfg=CFG, phone=PHONE, code=box.last_code()
    )
    principal = await service.authenticate(session=session, token=issued.token)
    assert principal.resident_id == resident.id and principal.patient_id is None
    await service.sign_out(session=session, principal=principal)
    with pytest.raises(NotAuthenticated):
        await service.authenticate(session=session, token=issued.token)
