"""The Grafana dashboard asks only for metrics the control plane has, in valid PromQL.

Usage: check_dashboard.py DASHBOARD.json METRICS.txt RULES_OUT.yml
METRICS.txt is a real /metrics scrape. Every gatehouse_* series the dashboard's queries name
must be exposed there (counters as NAME_total, histograms as NAME_bucket/_sum/_count).
The queries, with Grafana's variables filled in, are written to RULES_OUT.yml as recording
rules for `promtool check rules` to parse.
"""

import json
import re
import sys


def exposed(scrape):
    names = set()
    for line in scrape.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if not m:
            continue
        name, kind = m.groups()
        if kind == "counter":
            names.add(name + "_total")
        elif kind == "histogram":
            names.update(name + s for s in ("_bucket", "_sum", "_count"))
        else:
            names.add(name)
    return names


def main():
    dash = json.load(open(sys.argv[1]))
    have = exposed(open(sys.argv[2]).read())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    exprs += [v["query"]["query"] for v in dash["templating"]["list"] if isinstance(v.get("query"), dict)]
    missing = sorted({n for e in exprs for n in re.findall(r"\bgatehouse_[a-z_]+", e)} - have)
    if missing:
        sys.exit(f"the dashboard asks for metrics /metrics does not have: {', '.join(missing)} (it has: {', '.join(sorted(have))})")
    fill = {"$__rate_interval": "5m", "$__range": "1h", "$instance": ".*", "$server": ".*"}
    rules = []
    for i, e in enumerate(exprs):
        if e.startswith("label_values("):
            continue
        for k, v in fill.items():
            e = e.replace(k, v)
        rules.append({"record": f"dashboard:query_{i}", "expr": e})
    json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(sys.argv[3], "w"), indent=1)
    print(f"{len(dash['panels'])} panels, {len(rules)} queries, metrics: {', '.join(sorted({n for e in exprs for n in re.findall(r'gatehouse_[a-z_]+', e)}))}")


if __name__ == "__main__":
    main()
