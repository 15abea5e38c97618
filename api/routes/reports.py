"""ROI per program as authors see it: GET /v1/reports/programs."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from marshmallow import RAISE, Schema, ValidationError, fields

from api.core.auth import authorize
from api.core.errors import ApiError
from engine.reports.report import InvalidRange, default_range, read_report

blueprint = Blueprint("reports", __name__, url_prefix="/v1")


class BadReportQuery(ApiError):
    status, code = 400, "bad_report_query"


class ReportQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    from_ = fields.Date(data_key="from", load_default=None,
                        metadata={"description": "first day, YYYY-MM-DD (default: 28 days "
                                                 "before to)"})
    to = fields.Date(load_default=None,
                     metadata={"description": "the day after the last, YYYY-MM-DD (default: "
                                              "tomorrow in the pack's timezone)"})


class FiguresSchema(Schema):
    messages = fields.Integer()
    contacts = fields.Integer(allow_none=True, metadata={
        "description": "distinct contacts sent a message (estimated on Redis)"})
    cost = fields.Float(metadata={"description": "channel cost of the messages"})
    conversions = fields.Integer()
    revenue = fields.Float(metadata={"description": "values of converted outcomes"})
    unsubscriptions = fields.Integer()
    complaints = fields.Integer()
    churn_cost = fields.Float(metadata={"description": "outcomes valued at the pack's costs"})
    net_value = fields.Float(metadata={"description": "revenue - cost - churn_cost"})
    roi = fields.Float(allow_none=True, metadata={"description": "net_value / cost; null "
                                                                 "when nothing was spent"})
    incremental_revenue = fields.Float(allow_none=True, metadata={
        "description": "programs: goal revenue beyond the holdout's control group, "
                       "(treatment - control revenue per contact) x treated contacts; null "
                       "with incremental_reason when it cannot be measured; always null "
                       "for actions and totals"})


class ActionFiguresSchema(FiguresSchema):
    action = fields.String()
    channel = fields.String()


class ProgramFiguresSchema(FiguresSchema):
    program = fields.String()
    incremental_low = fields.Float(allow_none=True, metadata={
        "description": "95 % interval of incremental_revenue (conservative)"})
    incremental_high = fields.Float(allow_none=True)
    incremental_reason = fields.String(allow_none=True, metadata={
        "description": "why incremental_revenue is null: no holdout withholds the program, "
                       "the control group is under 30 contacts or has no goal event"})
    holdout = fields.String(allow_none=True, metadata={
        "description": "the holdout experiment measuring it (its own, else the global one; "
                       "programs sharing a holdout share its figure: do not add them up)"})
    actions = fields.List(fields.Nested(ActionFiguresSchema))


class HoldoutArmSchema(Schema):
    units = fields.Integer(metadata={"description": "members that joined before to"})
    goal_events = fields.Integer(metadata={"description": "goal events over [from, to)"})
    revenue = fields.Float(metadata={"description": "their values"})
    revenue_per_unit = fields.Float()


class HoldoutSchema(Schema):
    experiment = fields.String()
    share = fields.Float(metadata={"description": "the control group's share of contacts"})
    covers = fields.List(fields.String(), allow_none=True, metadata={
        "description": "the programs it withholds (null: every marketing program)"})
    programs = fields.List(fields.String(), metadata={
        "description": "the programs of this report measured by it"})
    goal = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True))
    treatment = fields.Nested(HoldoutArmSchema)
    control = fields.Nested(HoldoutArmSchema)
    incremental_revenue = fields.Float(allow_none=True)
    incremental_low = fields.Float(allow_none=True)
    incremental_high = fields.Float(allow_none=True)
    incremental_reason = fields.String(allow_none=True)


class WeekSchema(Schema):
    week = fields.String(metadata={"description": "the Monday the week starts"})
    program = fields.String()
    net_value = fields.Float()


class ProgramReportSchema(Schema):
    pack = fields.String()
    from_ = fields.String(data_key="from", attribute="from")
    to = fields.String(metadata={"description": "exclusive"})
    costs = fields.Dict(keys=fields.String(), values=fields.Float())
    contacts_method = fields.String(metadata={"description": "exact or estimated"})
    programs = fields.List(fields.Nested(ProgramFiguresSchema))
    totals = fields.Nested(FiguresSchema)
    weeks = fields.List(fields.Nested(WeekSchema))
    holdouts = fields.List(fields.Nested(HoldoutSchema), metadata={
        "description": "each holdout measuring a program: its arms over [from, to)"})


_query = ReportQuerySchema()
_report = ProgramReportSchema()


@blueprint.get("/reports/programs")
def programs_report():
    """Per program, action and channel over [from, to): cost, revenue, churn, ROI."""
    authorize("read_reports")
    nba = current_app.extensions["nba"]
    plan = nba.pack.plan
    try:
        query = _query.load(request.args.to_dict())
        period = default_range(nba.clock().astimezone(plan.tz).date(), query["from_"],
                               query["to"])
    except ValidationError as exc:
        raise BadReportQuery("from and to are dates written YYYY-MM-DD; see fields",
                             exc.normalized_messages()) from exc
    except InvalidRange as exc:
        raise BadReportQuery(str(exc), {"from": [str(exc)]}) from exc
    nba.reports.flush()  # this worker's own latest counters are in its answer
    nba.decisions.experiments.flush()
    return jsonify(_report.dump(read_report(plan, nba.report_reader, period,
                                            nba.experiment_reader)))
