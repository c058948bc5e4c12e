"""Import every domain's tables so the metadata is complete (migrations, tests)."""

from __future__ import annotations


def import_all() -> None:
    from yiyun.audit import models as _audit  # noqa: F401
    from yiyun.auth import models as _auth  # noqa: F401
    from yiyun.clinics import models as _clinics  # noqa: F401
    from yiyun.collab import models as _collab  # noqa: F401
    from yiyun.consult import models as _consult  # noqa: F401
    from yiyun.core import jobs as _jobs  # noqa: F401
    from yiyun.emergency import models as _emergency  # noqa: F401
    from yiyun.imaging import models as _imaging  # noqa: F401
    from yiyun.inquiry import models as _inquiry  # noqa: F401
    from yiyun.learning import models as _learning  # noqa: F401
    from yiyun.meetings import models as _meetings  # noqa: F401
    from yiyun.notify import models as _notify  # noqa: F401
    from yiyun.ops import models as _ops  # noqa: F401
    from yiyun.org import models as _org  # noqa: F401
    from yiyun.partners import models as _partners  # noqa: F401
    from yiyun.records import models as _records  # noqa: F401
    from yiyun.referrals import models as _referrals  # noqa: F401
    from yiyun.resident import models as _resident  # noqa: F401
    from yiyun.stats import models as _stats  # noqa: F401
    from yiyun.supervision import models as _supervision  # noqa: F401
    from yiyun.surveillance import models as _surveillance  # noqa: F401
    from yiyun.teaching import models as _teaching  # noqa: F401
