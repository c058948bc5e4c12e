"""Demo library videos: short generated lectures uploaded by the demo specialist and
doctor, left waiting for the transcoder, so a fresh `make run` shows the library filling
up (and one video already in progress). Needs FFmpeg; without it the library stays empty
and the command says so."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.audit.service import Actor
from yiyun.auth import service as auth_service
from yiyun.core.bus import InProcessBus
from yiyun.core.storage import LocalStore
from yiyun.org.models import User
from yiyun.settings import Settings, blob_keys
from yiyun.teaching import service, transcode
from yiyun.teaching.models import Video
from yiyun.teaching.schemas import VideoMeta

logger = logging.getLogger(__name__)

# (uploader, title, specialty, tags, description, seconds)
LECTURES = (
    ("specialist", "心力衰竭诊治指南解读（2024）", "心血管内科", ["心衰", "指南"],
     "射血分数降低的心力衰竭：诊断流程、四联药物治疗与随访要点。", 12),
    ("specialist", "心电图快速判读：急性冠脉综合征", "心血管内科", ["心电图", "胸痛"],
     "ST 段抬高型心肌梗死的心电图识别与转诊时机。", 10),
    ("doctor", "社区高血压规范化管理", "全科医学", ["高血压", "慢病管理"],
     "家庭血压监测、用药调整与双向转诊标准。", 10),
    ("doctor", "社区诊所手卫生规范", "感染管理", ["手卫生", "院感"],
     "世界卫生组织手卫生五个时刻，分步演示。", 8),
)  # fmt: skip


async def _clip(dest: Path, seconds: int, pattern: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"{pattern}=size=1280x720:rate=25",
        "-f", "lavfi", "-i", "sine=frequency=330:sample_rate=48000",
        "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-shortest", "-movflags", "+faststart", str(dest),
    )  # fmt: skip
    if await proc.wait() != 0:
        raise transcode.TranscodeError("could not generate a demo clip")


async def seed_teaching(factory: async_sessionmaker[AsyncSession], settings: Settings) -> int:
    """Upload the demo lectures once (they wait for the app's transcoder); how many."""
    if transcode.tools_missing():
        logger.warning("demo: no teaching videos (%s)", transcode.tools_missing())
        return 0
    async with factory() as s:
        if await s.scalar(select(func.count()).select_from(Video)):
            return 0
        users = {
            u.username: u
            for u in await s.scalars(
                select(User).where(User.username.in_(["specialist", "doctor"]))
            )
        }
    if len(users) < 2:
        return 0
    store = LocalStore(settings.storage.path, blob_keys(settings.security))
    bus = InProcessBus()
    made = 0
    with tempfile.TemporaryDirectory(dir=settings.data_dir) as tmp:
        for n, (who, title, specialty, tags, description, seconds) in enumerate(LECTURES):
            clip = Path(tmp) / f"lecture{n}.mp4"
            await _clip(clip, seconds, "testsrc2" if n % 2 else "smptehdbars")
            user = users[who]
            principal = auth_service.principal_of(user)
            async with factory() as s, s.begin():
                await service.create(
                    session=s,
                    store=store,
                    bus=bus,
                    principal=principal,
                    actor=Actor(user_id=user.id, username=user.username),
                    meta=VideoMeta(
                        title=title, description=description, specialty=specialty, tags=tags
                    ),
                    filename="lecture.mp4",
                    source=clip,
                    size=clip.stat().st_size,
                )
            made += 1
    await bus.close()
    return made
