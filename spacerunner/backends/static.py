"""A static Space as an instance: spacerunner's proxy serves its files; there is no process.
Every backend serves static plans this way."""

from __future__ import annotations

from spacerunner.backends.base import Instance, StaticSite, Status
from spacerunner.backends.logs import AppLog
from spacerunner.errors import AppExitedError
from spacerunner.launch.plan import StaticPlan


class StaticInstance(Instance):
    plan: StaticPlan

    def __init__(self, plan: StaticPlan, log: AppLog) -> None:
        super().__init__(plan, StaticSite(plan.root, plan.index), log)
        log.note(f"serving files of {plan.root} (index {plan.index})")

    async def wait_ready(self, timeout: float | None = None) -> None:
        if not (self.plan.root / self.plan.index).is_file():
            raise AppExitedError(self.name, None, f"{self.plan.index} is missing", ())
        self._mark_ready()

    async def stop(self, grace: float = 10.0) -> Status:
        if self._mark_stopping():
            self.log.note("stopped")
            self.log.close()
            self._ended(None)
        return self.status()
