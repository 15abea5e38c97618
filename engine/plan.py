"""A compiled pack: immutable, built once, shared by every decision."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, tzinfo
from functools import cached_property
from typing import Any, Callable, Mapping

from engine.language.expressions import Expression
from engine.model import MARKETING_KINDS, WindowCheck


@dataclass(frozen=True)
class ChannelPlan:
    name: str
    cost: float = 0.0
    quiet_hours: tuple[time, time] | None = None
    quiet_hours_text: str | None = None
    capacity_per_day: int | None = None
    consent: str = "opt_in"
    inbound: bool = False
    # Push delivery of the channel's outbox: POST each message to ``webhook``,
    # signed with HMAC-SHA256 by the secret in the environment variable
    # ``webhook_secret_env``, giving up after ``webhook_max_attempts``.
    webhook: str | None = None
    webhook_secret_env: str | None = None
    webhook_max_attempts: int = 5


@dataclass(frozen=True)
class FactRule:
    id: str
    when: Expression
    sets: Mapping[str, Any]


@dataclass(frozen=True)
class RepeatRule:
    max: int
    within: timedelta
    text: str


@dataclass(frozen=True)
class ActionPlan:
    id: str
    program: str
    kind: str
    channels: tuple[str, ...]
    index: int
    placements: frozenset[str] = frozenset()
    when: Expression | None = None
    priority: float = 50.0
    value: float = 1.0
    propensity: Expression | float | Any = 1.0  # Any: engine.learning.model.Learned
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    repeat: RepeatRule | None = None
    group: str | None = None
    respect_opt_out: bool = False
    # The holdout experiments whose control group this action is withheld from.
    holdouts: tuple[str, ...] = ()
    content: Mapping[str, Any] = field(default_factory=dict)
    # Per channel, the policy rules that can apply to this action (filled by the compiler).
    pressure_rules: Mapping[str, tuple[PressureRule, ...]] = field(default_factory=dict)
    suppress_rules: Mapping[str, tuple[SuppressRule, ...]] = field(default_factory=dict)
    checks: Mapping[str, tuple[Callable[..., Any], ...]] = field(default_factory=dict)
    # Per channel, the score when it depends on nothing about the contact.
    fixed_scores: Mapping[str, float] = field(default_factory=dict)

    @property
    def marketing(self) -> bool:
        return self.kind in MARKETING_KINDS


@dataclass(frozen=True)
class PressureRule:
    """A cap (``max`` per ``per``) or a minimum gap, on matching contacts."""

    id: str
    kinds: frozenset[str]
    channels: frozenset[str] = frozenset()
    programs: frozenset[str] = frozenset()
    max: int | None = None
    per: timedelta | None = None
    calendar: str | None = None  # None (rolling), "days" or "weeks"
    min_gap: timedelta | None = None
    # A weighted budget (``budget`` per ``per``): each contact counts its channel's
    # weight; ``channels`` are then the weighted ones.
    budget: float | None = None
    weights: Mapping[str, float] | None = None

    def weight(self, channel: str) -> float:
        """What one contact on ``channel`` counts toward this rule."""
        return 1.0 if self.weights is None else self.weights.get(channel, 0.0)

    def used(self, entries: Any) -> float:
        """What ``entries`` (already matching) count toward this rule."""
        if self.weights is None:
            return len(entries)
        return sum(self.weights.get(e.channel, 0.0) for e in entries)

    def applies_to(self, kind: str, channel: str, program: str) -> bool:
        return (kind in self.kinds
                and (not self.channels or channel in self.channels)
                and (not self.programs or program in self.programs))

    def window_check(self, since: datetime) -> WindowCheck:
        """The reservation's atomic re-check of this rule over entries from ``since``.

        Every decision that chooses an action builds one per rule: the fields but
        ``since`` are built once per rule, and each check is a copy of them (it
        equals what ``WindowCheck(...)`` builds)."""
        check = object.__new__(WindowCheck)
        check.__dict__.update(self._check_fields)
        check.__dict__["since"] = since
        return check

    @cached_property
    def _check_fields(self) -> dict[str, Any]:
        """The fields of this rule's WindowCheck, ``since`` aside (a cache, not a field)."""
        return dict(WindowCheck(self.id, "pressure", datetime.min, self.limit, kinds=self.kinds,
                                channels=self.channels, programs=self.programs,
                                weights=self.weights).__dict__)

    @property
    def reach(self) -> timedelta:
        """How far back this rule can look from any moment."""
        if self.calendar is None:
            return self.span
        return self.span + self._unit()

    @property
    def limit(self) -> float:
        if self.budget is not None:
            return self.budget
        return 1 if self.min_gap is not None else int(self.max or 0)

    @property
    def span(self) -> timedelta:
        return self.min_gap if self.min_gap is not None else self.per  # type: ignore[return-value]

    def window_start(self, now: datetime, tz: tzinfo) -> datetime:
        """The earliest recorded time that counts toward this rule at ``now``."""
        if self.calendar is None:
            return now - self.span
        return self._period_start(now, tz) - self._extra_periods()

    def expires_at(self, recorded_at: datetime, tz: tzinfo) -> datetime:
        """When an entry recorded at ``recorded_at`` stops counting."""
        if self.calendar is None:
            return recorded_at + self.span
        return self._period_start(recorded_at, tz) + self.span

    def _period_start(self, moment: datetime, tz: tzinfo) -> datetime:
        local = moment.astimezone(tz)
        midnight = datetime(local.year, local.month, local.day, tzinfo=tz)
        if self.calendar == "weeks":
            return midnight - timedelta(days=local.weekday())
        return midnight

    def _unit(self) -> timedelta:
        return timedelta(weeks=1) if self.calendar == "weeks" else timedelta(days=1)

    def _extra_periods(self) -> timedelta:
        return self.span - self._unit()


@dataclass(frozen=True)
class SuppressRule:
    id: str
    after: frozenset[str]
    scope: str  # "action", "program" or "all"
    period: timedelta
    kinds: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    programs: frozenset[str] = frozenset()

    def covers(self, action: ActionPlan, channel: str) -> bool:
        return ((not self.kinds or action.kind in self.kinds)
                and (not self.channels or channel in self.channels)
                and (not self.programs or action.program in self.programs))


@dataclass(frozen=True)
class PackTest:
    name: str
    raw: Mapping[str, Any]
    line: int | None


@dataclass(frozen=True)
class Plan:
    """Everything a decision needs from a pack, compiled and immutable."""

    name: str
    version: str
    hash: str
    timezone: str
    tz: tzinfo
    channels: Mapping[str, ChannelPlan]
    facts: tuple[FactRule, ...]
    actions: tuple[ActionPlan, ...]
    pressure: tuple[PressureRule, ...]
    suppress: tuple[SuppressRule, ...]
    arbitration: Expression
    tests: tuple[PackTest, ...]
    source: str
    by_id: Mapping[str, ActionPlan] = field(default_factory=dict)
    longest_repeat: timedelta | None = None
    # How far back any policy or expression looks; None when some expression
    # reads the whole history. Stores may trim entries older than this.
    history_horizon: timedelta | None = None
    # Per inbound channel: placement (or "default") -> fallback action id.
    fallbacks: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # Per channel, each action offering it with the checks worth running there.
    candidates: Mapping[str, tuple[tuple[ActionPlan, tuple[Callable[..., Any], ...]], ...]] = \
        field(default_factory=dict)
    # Declared event types (engine.journeys.plan.EventTypePlan by name), whether an
    # undeclared type is refused, the journeys, and whether any expression reads
    # the contact's events (decisions then load them).
    events: Mapping[str, Any] = field(default_factory=dict)
    events_strict: bool = False
    journeys: tuple[Any, ...] = ()
    reads_events: bool = False
    # engine.learning.experiments.ExperimentPlan: holdouts, variants, journey splits.
    experiments: tuple[Any, ...] = ()
    # Lead routing: queue name -> rules (engine.agenda.routing.RoutingRule).
    routing: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    # The ``learning:`` section (engine.learning.model.LearningPlan) when an action's
    # propensity is learned(p), else None.
    learning: Any = None
    # The arbitration reads risk.* (engine.learning.risk): decisions then count the
    # contact's pressure in the points of ``risk_weights`` (None: one per contact).
    reads_risk: bool = False
    risk_weights: Mapping[str, float] | None = None
    # Candidates scoring below this are not chosen (policy "score").
    min_score: float | None = None
    # The ``costs:`` section: outcome name -> the value it loses (reports' churn cost).
    costs: Mapping[str, float] = field(default_factory=dict)
    # Per channel, the generated decision function (engine.decision.codegen), made
    # on the channel's first decision; None when the closures serve the channel.
    # Not an init field: a plan made with dataclasses.replace starts without any.
    programs: dict[str, Any] = field(default_factory=dict, init=False, compare=False,
                                     repr=False)

    # Where decisions read learned propensities (engine.learning.learner.Learner), set
    # by the service that serves the plan; without one, learned(p) is its prior mean.
    learner: Any = field(default=None, init=False, compare=False, repr=False)

    # Concluded variants experiments: experiment id -> winning arm (set by the
    # service's experiment tracker when auto_optimise concludes).
    winners: dict[str, str] = field(default_factory=dict, init=False, compare=False,
                                    repr=False)

    def attach_learner(self, learner: Any) -> None:
        object.__setattr__(self, "learner", learner)

    def action(self, action_id: str) -> ActionPlan | None:
        return self.by_id.get(action_id)

    def journey(self, journey_id: str) -> Any:
        """The journey (engine.journeys.plan.JourneyPlan) called ``journey_id``, or None."""
        return next((j for j in self.journeys if j.id == journey_id), None)

    def fallback(self, channel: str, placement: str | None) -> ActionPlan | None:
        """The fallback action for this channel and placement, if the pack names one."""
        slots = self.fallbacks.get(channel)
        if not slots:
            return None
        action_id = slots.get(placement) if placement else None
        return self.by_id.get(action_id or slots.get("default", ""))
