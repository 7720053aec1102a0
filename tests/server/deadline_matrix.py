"""Due times of regulatory obligations computed from the law, not from
haetae: which obligations an incident has and when each is due, for a
matrix of incidents across regimes, weekends, US federal holidays, daylight
saving changes, month ends and leap days. Reads haetae's answers
(prog_obligations_eval) and reports every difference.

Usage: deadline_matrix.py cases   -> the cases as JSON lines
       deadline_matrix.py check F -> compares F (the program's output)
"""
import datetime as dt
import json
import sys
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc
JST = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
H = dt.timedelta(hours=1)

FINANCIAL = {"financial", "banking", "insurance", "investment", "card", "securities", "payment"}
NIS2_SECTORS = {"energy", "transport", "banking", "financial", "health", "water",
                "digital_infrastructure", "telecom", "ict_services", "public_administration",
                "space", "postal", "waste", "chemicals", "food", "manufacturing",
                "digital_providers", "research"}
# PIPA art. 23 sensitive information and unique identifiers: one person suffices.
PIPA_ONE_PERSON = {"sensitive", "health", "genetic", "biometric", "belief", "political", "union",
                   "sex_life", "criminal", "unique_id", "rrn", "frn", "passport",
                   "driver_license"}
GDPR_HIGH_RISK = PIPA_ONE_PERSON | {"card", "bank_account"}


def t(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def nth_weekday(year, month, weekday, n):
    """n-th weekday (0 Monday) of the month; n = -1 for the last."""
    if n > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = dt.date(year + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def observed(day):
    """5 U.S.C. 6103(b): Saturday holidays on Friday, Sunday ones on Monday."""
    if day.weekday() == 5:
        return day - dt.timedelta(days=1)
    if day.weekday() == 6:
        return day + dt.timedelta(days=1)
    return day


def us_federal_holidays(year):
    """5 U.S.C. 6103(a)."""
    fixed = [(1, 1), (6, 19), (7, 4), (11, 11), (12, 25)]
    days = {observed(dt.date(year, m, d)) for m, d in fixed}
    days |= {nth_weekday(year, 1, 0, 3), nth_weekday(year, 2, 0, 3), nth_weekday(year, 5, 0, -1),
             nth_weekday(year, 9, 0, 1), nth_weekday(year, 10, 0, 2), nth_weekday(year, 11, 3, 4)}
    # New Year's Day of the next year observed on 31 December.
    days.add(observed(dt.date(year + 1, 1, 1)))
    return days


def business_days_after(start, n):
    """Form 8-K General Instruction B.1: within four business days after
    the determination; filed by 17:30 Eastern (EDGAR Filer Manual)."""
    day = start.astimezone(NEW_YORK).date()
    counted = 0
    while counted < n:
        day += dt.timedelta(days=1)
        if day.weekday() < 5 and day not in us_federal_holidays(day.year):
            counted += 1
    return dt.datetime(day.year, day.month, day.day, 17, 30, tzinfo=NEW_YORK).astimezone(UTC)


def end_of_day_jst(start, n):
    """APPI Enforcement Rules art. 8(2): the day of awareness is day 1."""
    day = start.astimezone(JST).date() + dt.timedelta(days=n)
    return dt.datetime(day.year, day.month, day.day, tzinfo=JST).astimezone(UTC)


def plus_month(start):
    """NIS2 art. 23(4)(d), DORA: one month later, the last day when shorter."""
    y, m = start.year + (start.month == 12), start.month % 12 + 1
    for d in (start.day, 30, 29, 28):
        try:
            return start.replace(year=y, month=m, day=d)
        except ValueError:
            continue
    raise ValueError(start)


def expected(c):
    """{rule: due or None} for the case, from the statutes' text."""
    kinds = set(filter(None, c.get("kinds", "").split(",")))
    regions = set(filter(None, c.get("regions", "").split(",")))
    sectors = set(filter(None, c.get("sectors", "").split(",")))
    data = set(filter(None, c.get("data_kinds", "").split(",")))
    persons = c.get("persons", 0)
    aware = t(c.get("aware") or c["detected"])
    sent = {k: t(v) for k, v in c.get("sent", {}).items()}
    out = {}
    if "kr" in regions:
        if kinds & {"intrusion", "ransomware", "outage"}:
            out["kr.network_act.48-3"] = aware + 24 * H
            out["kr.network_act.48-3.supplementary"] = None
        if "personal_data_leak" in kinds:
            out["kr.pipa.34-1.subjects"] = aware + 72 * H
            if persons >= 1000 or data & PIPA_ONE_PERSON or kinds & {"intrusion", "ransomware"}:
                out["kr.pipa.34-3.regulator"] = aware + 72 * H
        if sectors & FINANCIAL:
            out["kr.efta.21-5"] = aware  # without delay
    if "eu" in regions:
        if "personal_data_leak" in kinds:
            out["eu.gdpr.33"] = aware + 72 * H
            if data & GDPR_HIGH_RISK:
                out["eu.gdpr.34"] = aware
        if sectors & FINANCIAL:
            cls = t(c["classified"]) if c.get("classified") else None
            cap = aware + 24 * H
            out["eu.dora.19-4a"] = min(cls + 4 * H, cap) if cls else cap
            out["eu.dora.19-4b"] = sent["eu.dora.19-4a"] + 72 * H if "eu.dora.19-4a" in sent else None
            out["eu.dora.19-4c"] = plus_month(sent["eu.dora.19-4b"]) if "eu.dora.19-4b" in sent else None
        elif sectors & NIS2_SECTORS:  # NIS2 art. 4: DORA is lex specialis
            out["eu.nis2.23-4a"] = aware + 24 * H
            out["eu.nis2.23-4b"] = aware + 72 * H
            out["eu.nis2.23-4d"] = plus_month(sent["eu.nis2.23-4b"]) if "eu.nis2.23-4b" in sent else None
    if "jp" in regions and "personal_data_leak" in kinds:
        malicious = bool(kinds & {"intrusion", "ransomware"})
        if data & {"sensitive", "health", "card", "bank_account"} or malicious or persons > 1000:
            out["jp.appi.26.preliminary"] = aware + dt.timedelta(days=5)
            out["jp.appi.26-2.subjects"] = aware
            if malicious:
                out["jp.appi.26.final_malicious"] = end_of_day_jst(aware, 60)
            else:
                out["jp.appi.26.final"] = end_of_day_jst(aware, 30)
    if "us" in regions and "us_listed" in sectors:
        m = c.get("materiality")
        out["us.sec.8-k.1.05"] = business_days_after(t(m), 4) if m else None
    return out


def cases():
    c = []
    add = lambda **kw: c.append(kw)
    # Korea
    add(case="skt", kinds="intrusion,personal_data_leak", regions="kr,eu,us",
        sectors="telecom,us_listed", data_kinds="rrn,phone,imsi", persons=1500,
        detected="2025-04-18T11:00:00Z", aware="2025-04-18T14:20:00Z",
        materiality="2025-07-01T15:00:00Z")
    add(case="kr_ransomware_leap_day", kinds="ransomware", regions="kr", sectors="retail",
        detected="2024-02-29T03:00:00Z", aware="2024-02-29T03:00:00Z")
    add(case="kr_leak_999", kinds="personal_data_leak", regions="kr", data_kinds="email,phone",
        persons=999, detected="2025-01-10T00:00:00Z", aware="2025-01-10T00:00:00Z")
    add(case="kr_leak_1000", kinds="personal_data_leak", regions="kr", data_kinds="email",
        persons=1000, detected="2025-01-10T00:00:00Z", aware="2025-01-10T00:00:00Z")
    add(case="kr_one_health_record", kinds="personal_data_leak", regions="kr", data_kinds="health",
        persons=1, detected="2025-03-31T22:00:00Z", aware="2025-03-31T22:00:00Z")
    add(case="kr_one_rrn", kinds="personal_data_leak", regions="kr", data_kinds="rrn", persons=1,
        detected="2025-12-31T20:00:00Z", aware="2025-12-31T20:00:00Z")
    add(case="kr_insurance_outage", kinds="outage", regions="kr", sectors="insurance",
        detected="2025-06-09T01:00:00Z", aware="2025-06-09T02:00:00Z")
    add(case="kr_card_outage", kinds="outage", regions="kr", sectors="card",
        detected="2025-09-01T05:00:00Z", aware="2025-09-01T05:30:00Z")
    add(case="kr_securities_intrusion", kinds="intrusion", regions="kr", sectors="securities",
        detected="2025-08-15T00:00:00Z", aware="2025-08-15T06:00:00Z")
    add(case="kr_public_leak", kinds="personal_data_leak", regions="kr", sectors="public",
        data_kinds="email", persons=5, detected="2025-05-05T00:00:00Z",
        aware="2025-05-05T00:00:00Z")
    add(case="kr_awareness_unrecorded", kinds="intrusion", regions="kr", sectors="telecom",
        detected="2025-02-28T16:00:00Z")
    add(case="kr_financial_leak_payment", kinds="personal_data_leak", regions="kr",
        sectors="payment", data_kinds="card", persons=20030, detected="2024-09-01T00:00:00Z",
        aware="2024-09-02T00:00:00Z")
    # European Union
    add(case="eu_leak_month_end", kinds="personal_data_leak", regions="eu", data_kinds="email",
        persons=10, detected="2025-01-31T23:00:00Z", aware="2025-01-31T23:00:00Z")
    add(case="eu_leak_national_id", kinds="personal_data_leak", regions="eu",
        data_kinds="passport", persons=3, detected="2025-02-01T10:00:00Z",
        aware="2025-02-01T10:00:00Z")
    add(case="eu_energy_intrusion", kinds="intrusion", regions="eu", sectors="energy",
        detected="2025-03-29T23:00:00Z", aware="2025-03-30T00:30:00Z")
    add(case="eu_energy_final_month_end", kinds="intrusion", regions="eu", sectors="energy",
        detected="2025-01-27T00:00:00Z", aware="2025-01-28T00:00:00Z",
        sent={"eu.nis2.23-4b": "2025-01-31T09:00:00Z"})
    add(case="eu_leap_final", kinds="outage", regions="eu", sectors="telecom",
        detected="2024-01-28T00:00:00Z", aware="2024-01-28T00:00:00Z",
        sent={"eu.nis2.23-4b": "2024-01-31T12:00:00Z"})
    add(case="eu_bank_classified", kinds="intrusion", regions="eu", sectors="banking",
        detected="2025-04-01T08:00:00Z", aware="2025-04-01T09:00:00Z",
        classified="2025-04-01T12:00:00Z")
    add(case="eu_bank_classified_late", kinds="intrusion", regions="eu", sectors="banking",
        detected="2025-04-01T08:00:00Z", aware="2025-04-01T09:00:00Z",
        classified="2025-04-02T08:00:00Z")
    add(case="eu_bank_unclassified", kinds="outage", regions="eu", sectors="banking",
        detected="2025-10-25T22:00:00Z", aware="2025-10-25T23:00:00Z")
    add(case="eu_bank_reports_sent", kinds="outage", regions="eu", sectors="investment",
        detected="2025-01-30T00:00:00Z", aware="2025-01-30T00:00:00Z",
        classified="2025-01-30T02:00:00Z",
        sent={"eu.dora.19-4a": "2025-01-30T05:00:00Z", "eu.dora.19-4b": "2025-01-31T10:00:00Z"})
    add(case="eu_insurer_sensitive_leak", kinds="personal_data_leak", regions="eu",
        sectors="insurance,health", data_kinds="health", persons=40,
        detected="2025-07-01T00:00:00Z", aware="2025-07-01T00:00:00Z",
        classified="2025-07-01T01:00:00Z")
    # Japan
    add(case="jp_intrusion_60", kinds="personal_data_leak,intrusion", regions="jp",
        data_kinds="email", persons=10, detected="2025-05-01T00:00:00Z",
        aware="2025-05-01T00:00:00Z")
    add(case="jp_card_next_day_in_japan", kinds="personal_data_leak", regions="jp",
        data_kinds="card", persons=10, detected="2025-05-01T16:00:00Z",
        aware="2025-05-01T16:00:00Z")
    add(case="jp_leap_day_last_second", kinds="personal_data_leak", regions="jp",
        data_kinds="email", persons=1001, detected="2024-02-29T14:59:59Z",
        aware="2024-02-29T14:59:59Z")
    add(case="jp_1000_is_not_enough", kinds="personal_data_leak", regions="jp",
        data_kinds="email", persons=1000, detected="2024-03-01T00:00:00Z",
        aware="2024-03-01T00:00:00Z")
    add(case="jp_new_year", kinds="personal_data_leak", regions="jp", data_kinds="bank_account",
        persons=2, detected="2024-12-31T15:00:00Z", aware="2024-12-31T15:00:00Z")
    # United States (Form 8-K Item 1.05)
    add(case="us_july_4th", kinds="intrusion", regions="us", sectors="us_listed",
        detected="2025-06-30T00:00:00Z", materiality="2025-07-01T15:00:00Z")
    add(case="us_thanksgiving", kinds="ransomware", regions="us", sectors="us_listed",
        detected="2025-11-20T00:00:00Z", materiality="2025-11-26T20:00:00Z")
    add(case="us_dst_starts", kinds="intrusion", regions="us", sectors="us_listed",
        detected="2025-03-01T00:00:00Z", materiality="2025-03-07T18:00:00Z")
    add(case="us_dst_ends", kinds="intrusion", regions="us", sectors="us_listed",
        detected="2025-10-20T00:00:00Z", materiality="2025-10-31T18:00:00Z")
    add(case="us_christmas", kinds="intrusion", regions="us", sectors="us_listed",
        detected="2025-12-20T00:00:00Z", materiality="2025-12-24T15:00:00Z")
    add(case="us_july_4th_on_saturday", kinds="intrusion", regions="us", sectors="us_listed",
        detected="2026-06-30T00:00:00Z", materiality="2026-07-02T14:00:00Z")
    add(case="us_late_evening_is_the_next_day", kinds="intrusion", regions="us",
        sectors="us_listed", detected="2025-01-01T00:00:00Z",
        materiality="2025-01-17T03:00:00Z")  # Thu 16 Jan 22:00 EST; MLK day Mon 20
    add(case="us_undetermined", kinds="intrusion", regions="us", sectors="us_listed",
        detected="2025-01-01T00:00:00Z")
    add(case="nothing_applies", kinds="outage", regions="us", sectors="retail",
        detected="2025-01-01T00:00:00Z")
    return c


def fmt(due):
    return "-" if due is None else due.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def main():
    if sys.argv[1] == "cases":
        for c in cases():
            print(json.dumps(c))
        return 0
    got = {}
    for line in open(sys.argv[2]):
        name, rule, due, _status = line.rstrip("\n").split("\t")
        got.setdefault(name, {})[rule] = "-" if due == "-" else due[:19]
    problems = 0
    all_cases = cases()
    for c in all_cases:
        want = {rule: fmt(due) for rule, due in expected(c).items()}
        have = got.get(c["case"], {})
        for rule in sorted(set(want) | set(have)):
            if want.get(rule) != have.get(rule):
                problems += 1
                print(f"{c['case']}: {rule}: haetae {have.get(rule, 'absent')}, "
                      f"the law {want.get(rule, 'absent')}")
    rules = sum(len(expected(c)) for c in all_cases)
    print(f"{len(all_cases)} incidents, {rules} obligations, {problems} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
