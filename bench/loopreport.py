"""RESULTS.md's parts for issue 12's last two targets, and the merge that keeps other sections.

- the local loop (bench/local_invoke.py `run_loop`): `deployer invoke` against `sam local
  invoke`, a request to a running `deployer serve` against `sam local start-api` in SAM's default
  mode (a container per request: what a plain `sam local start-api` gives) and, as a second row,
  against `--warm-containers EAGER`; limits ≥ 5x and ≥ 100x (SAM's time over ours), as the median
  of per-round ratios with a 95% bootstrap interval;
- deploy (bench/deploy.py): push's time to a serving endpoint, first / unchanged / changed, the
  bytes uploaded, and whether the unchanged push left the stack as it was.

`merge(old, new)`: a run of some sections (`--only`) replaces those sections and their target
rows in the existing RESULTS.md and keeps everything else, so two people measuring different
sections do not erase each other's figures. The header says which parts were kept.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from bench.stats import bootstrap_ci, fmt_ms, median, p90

__all__ = ["loop_verdicts", "render_loop", "render_deploy", "merge", "INVOKE_RATIO", "SERVED_RATIO"]

INVOKE_RATIO = 5.0
SERVED_RATIO = 100.0
_SLOW_S = 0.5  # a SAM warm request past this waited on its log-matching delay (PERF-NOTES)


def _at_least(value: float, limit: float, lo: float, hi: float) -> str:
    if value != value:
        return "not measured"
    met = value >= limit
    robust = (lo >= limit) if met else (hi < limit)
    word = "**met**" if met else "**missed**"
    return word if robust else f"{word} (limit inside the 95% CI: within noise)"


def _ratio_stats(ours: list[int], sam: list[int]) -> dict[str, float]:
    ratios = [s / o for o, s in zip(ours, sam) if o > 0]
    lo, hi = bootstrap_ci(lambda r: median(r), [ratios])
    mean_lo, mean_hi = bootstrap_ci(lambda a, b: (sum(b) / len(b)) / (sum(a) / len(a)), [ours, sam],
                                    paired_groups=True)
    return {"ratio": median(ratios), "lo": lo, "hi": hi, "ours": median(ours) / 1e6, "sam": median(sam) / 1e6,
            "ours_p90": p90(ours) / 1e6, "sam_p90": p90(sam) / 1e6, "n": len(ratios),
            "mean_ratio": (sum(sam) / len(sam)) / (sum(ours) / len(ours)) if ours and sam else float("nan"),
            "mean_lo": mean_lo, "mean_hi": mean_hi}


def _margin(value: float, limit: float) -> str:
    d = value - limit
    return f"{abs(d):.1f}x {'over' if d >= 0 else 'under'} the limit ({abs(d) / limit * 100:.0f}%)"


def loop_verdicts(res: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if "local" in res:
        loop = (res.get("local") or {}).get("loop") or {}
        rows += _invoke_rows(loop)
    if "deploy" in res:
        rows += _deploy_rows(res.get("deploy") or {})
    return rows


_SERVED_OLD = "3. Local loop: `sam local start-api` / `deployer serve`, one warm request"
_SERVED_DEFAULT = ("3. Local loop: `sam local start-api` / `deployer serve`, one request to the running server "
                   "(SAM's default mode: a container per request)")
_SERVED_EAGER = "3. Local loop: `sam local start-api --warm-containers EAGER` / `deployer serve`, one warm request"
_EAGER = "sam local start-api --warm-containers EAGER"


def _invoke_rows(loop: dict[str, Any]) -> list[dict[str, Any]]:
    titles = ("3. Local loop: `sam local invoke` / `deployer invoke` (one invoke, fresh processes)",
              _SERVED_DEFAULT, _SERVED_EAGER)
    retired = {"target": _SERVED_OLD, "measured": "–", "limit": "", "verdict": "retired (issue 12)", "margin": "",
               "why": "split in two rows: SAM's default mode (a new container per request, what a plain `sam local "
                      "start-api` gives) and `--warm-containers EAGER` (one container kept warm)"}
    if loop.get("error"):
        return [{"target": t, "measured": "–", "limit": f"≥ {lim:g}x", "verdict": "not measured", "margin": "",
                 "why": loop["error"][:500]} for t, lim in zip(titles, (INVOKE_RATIO, SERVED_RATIO, SERVED_RATIO))
                ] + [retired]  # fmt: skip
    rows = []
    inv = loop.get("invoke") or {}
    s = inv.get("samples") or {}
    if s.get("deployer invoke"):
        st = _ratio_stats(s["deployer invoke"], s["sam local invoke"])
        why = ""
        if st["ratio"] < INVOKE_RATIO or st["lo"] < INVOKE_RATIO:
            why = _why_invoke(loop, st)
        rows.append({"target": titles[0],
                     "measured": f"{st['ratio']:.2f}x (95% CI {st['lo']:.2f}–{st['hi']:.2f}); "
                                 f"{fmt_ms(st['ours'])} vs {fmt_ms(st['sam'])} ms, n={st['n']}",
                     "limit": f"≥ {INVOKE_RATIO:g}x", "verdict": _at_least(st["ratio"], INVOKE_RATIO, st["lo"], st["hi"]),
                     "margin": _margin(st["ratio"], INVOKE_RATIO), "why": why})
    else:
        rows.append({"target": titles[0], "measured": "–", "limit": f"≥ {INVOKE_RATIO:g}x", "verdict": "not measured",
                     "margin": "", "why": "; ".join(inv.get("errors") or ["no sample"])[:500]})
    srv = loop.get("served") or {}
    for title, phase, key, why in ((titles[1], "default", "sam local start-api", _why_default),
                                   (titles[2], "eager", _EAGER, _why_served)):
        s = (srv.get(phase) or {}).get("samples") or {}
        if s.get("deployer serve") and s.get(key):
            st = _ratio_stats(s["deployer serve"], s[key])
            rows.append({"target": title,
                         "measured": f"{st['ratio']:.0f}x (95% CI {st['lo']:.0f}–{st['hi']:.0f}) per request; "
                                     f"total time {st['mean_ratio']:.0f}x (95% CI {st['mean_lo']:.0f}–"
                                     f"{st['mean_hi']:.0f}); {fmt_ms(st['ours'])} vs {fmt_ms(st['sam'])} ms, "
                                     f"n={st['n']}",
                         "limit": f"≥ {SERVED_RATIO:g}x",
                         "verdict": _at_least(st["ratio"], SERVED_RATIO, st["lo"], st["hi"]),
                         "margin": _margin(st["ratio"], SERVED_RATIO), "why": why(srv, st)})
        else:
            error = (srv.get(phase) or {}).get("error") or srv.get("error") or "no sample"
            rows.append({"target": title, "measured": "–", "limit": f"≥ {SERVED_RATIO:g}x",
                         "verdict": "not measured", "margin": "", "why": str(error)[:500]})
    return rows + [retired]


def _why_invoke(loop: dict[str, Any], st: dict[str, float]) -> str:
    s = loop["invoke"]["samples"]
    parts = [f"`deployer invoke` takes {fmt_ms(st['ours'])} ms (p90 {fmt_ms(st['ours_p90'])}), "
             f"`sam local invoke` {fmt_ms(st['sam'])} ms (p90 {fmt_ms(st['sam_p90'])})."]
    parts += _invoke_breakdown(s, st["ours"])
    parts.append(f"At ≥ {INVOKE_RATIO:g}x ours must be ≤ {fmt_ms(st['sam'] / INVOKE_RATIO)} ms against this SAM.")
    return " ".join(parts)


def _invoke_breakdown(s: dict[str, list[int]], ours_ms: float) -> list[str]:
    """Where `deployer invoke`'s time goes, from the variants timed in the same rounds."""
    ep = s.get("LocalEndpoint in-process") or []
    if not ep:
        return []
    rt = median(ep) / 1e6
    parts = [f"Of ours, the runtime itself (RIE start, the runtime's init with the model load, the request, the "
             f"stop; `LocalEndpoint` in-process, same rounds) is {fmt_ms(rt)} ms; the CLI process adds "
             f"{fmt_ms(ours_ms - rt)} ms."]
    bare, cli, eng = (s.get(k) or [] for k in ("python alone", "CLI imports alone", "CLI + local runtime imports"))
    if bare and cli and eng:
        a, b, c = (median(x) / 1e6 for x in (bare, cli, eng))
        parts.append(f"Fresh processes in the same rounds: `python -c pass` {fmt_ms(a)} ms, importing `deployer.cli` "
                     f"(typer) {fmt_ms(b)} ms, and `deployer.local` too (http.client and http.server) "
                     f"{fmt_ms(c)} ms; parsing, the progress line's console (rich, loaded while the runtime "
                     "initializes) and the answer make the rest.")
    return parts


def _why_default(srv: dict[str, Any], st: dict[str, float]) -> str:
    return (f"A plain `sam local start-api` starts a new container for every request (the runtime's init and the "
            f"model load included): {fmt_ms(st['sam'])} ms per request (p90 {fmt_ms(st['sam_p90'])}), where ours "
            f"answers from a warm environment in {fmt_ms(st['ours'])} ms (a new TCP connection per request, as "
            "curl makes). With `--warm-containers EAGER` SAM keeps one container: the next row.")


def _why_served(srv: dict[str, Any], st: dict[str, float]) -> str:
    sam = srv["eager"]["samples"][_EAGER]
    slow = [x for x in sam if x > _SLOW_S * 1e9]
    fast = [x for x in sam if x <= _SLOW_S * 1e9]
    if slow:
        parts = [f"SAM's warm requests are bimodal: {len(slow)} of {len(sam)} waited over {_SLOW_S:g} s "
                 f"(median {fmt_ms(median(slow) / 1e6)} ms: its log-matching delay), the others took "
                 f"{fmt_ms(median(fast) / 1e6) if fast else '–'} ms (median). The per-request median ratio "
                 "depends on which mode dominates; total time over all requests is the mean ratio."]
    else:
        parts = [f"SAM's warm requests took {fmt_ms(median(sam) / 1e6)} ms (median); none waited over "
                 f"{_SLOW_S:g} s (its log-matching delay, seen in other runs)."]
    hops = srv.get("hops") or {}
    if hops.get("gateway_keepalive_ns"):
        g, d = median(hops["gateway_keepalive_ns"]) / 1e6, median(hops["emulator_direct_ns"]) / 1e6
        parts.append(f"Ours, in-process on a kept-alive connection: {fmt_ms(g)} ms through the gateway, of which "
                     f"{fmt_ms(d)} ms is the event straight to the Runtime Interface Emulator and back through "
                     "awslambdaric (the real runtime, the floor of this design); a new TCP connection per request "
                     f"and a separate client process make the {fmt_ms(st['ours'])} ms measured against SAM.")
    if st["ratio"] < SERVED_RATIO:
        floor = f" ({fmt_ms(median(hops['emulator_direct_ns']) / 1e6)} ms)" if hops.get("emulator_direct_ns") else ""
        parts.append(f"{SERVED_RATIO:g}x per request would need ours ≤ {fmt_ms(st['sam'] / SERVED_RATIO)} ms, "
                     f"below the emulator hop itself{floor}: against a container SAM keeps warm, 100x is out of "
                     "reach of any design that runs the real runtime; the verdict against SAM's default mode is "
                     "the row above.")
    return " ".join(parts)


def _deploy_rows(dep: dict[str, Any]) -> list[dict[str, Any]]:
    title = "7. Deploy: unchanged re-push uploads 0 bytes and updates no stack (local target)"
    rounds = dep.get("rounds") or []
    if dep.get("error") or not rounds:
        return [{"target": title, "measured": "–", "limit": "0 bytes, no update", "verdict": "not measured",
                 "margin": "", "why": str(dep.get("error", "no round ran"))[:500]}]
    checked, bad, notes = 0, [], []
    for i, r in enumerate(rounds):
        u = r.get("unchanged")
        if not u or u.get("error"):
            notes.append(f"round {i + 1}: {(u or {}).get('error') or r.get('error') or 'no unchanged push'}"[:300])
            continue
        checked += 1
        d = u.get("stack_diff") or {}
        problems = []
        if u.get("uploaded_bytes") or u.get("uploaded_config_bytes"):
            problems.append(f"{u.get('uploaded_bytes')} layer + {u.get('uploaded_config_bytes')} config bytes uploaded")
        if u.get("changed") or u.get("change_set"):
            problems.append(f"push says changed (steps {u.get('steps')})")
        if not d:
            problems.append("the cloud's stack could not be read")
        else:
            if d.get("new_events"):
                problems.append(f"{d['new_events']} new stack events")
            if d.get("new_executed_change_sets"):
                problems.append(f"change set executed: {d['new_executed_change_sets']}")
            if d.get("last_updated_moved"):
                problems.append("LastUpdatedTime moved")
            if d.get("versions") and d["versions"][0] != d["versions"][1]:
                problems.append(f"versions {d['versions'][0]} → {d['versions'][1]}")
        if problems:
            bad.append(f"round {i + 1}: " + "; ".join(problems))
    ok = checked and not bad
    times = _deploy_times(rounds)
    t = times.get("unchanged")
    measured = (f"{checked} of {len(rounds)} rounds checked: " + ("0 bytes, no new stack event, no change set "
                "executed, versions unchanged" if ok else "; ".join(bad)[:400])
                + (f"; {t['med']:.2f} s (95% CI {t['lo']:.2f}–{t['hi']:.2f})" if t else ""))
    return [{"target": title, "measured": measured, "limit": "0 bytes, no update",
             "verdict": "**met**" if ok else ("**missed**" if checked else "not measured"),
             "margin": "", "why": "; ".join(bad + notes)[:800]}]


def _deploy_times(rounds: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out = {}
    for step in ("first", "unchanged", "changed"):
        xs = [r[step]["seconds"] for r in rounds if isinstance(r.get(step), dict) and not r[step].get("error")]
        if xs:
            lo, hi = bootstrap_ci(lambda v: median(v), [xs])
            out[step] = {"med": median(xs), "lo": lo, "hi": hi, "p90": p90(xs), "n": len(xs)}
    return out


# --------------------------------------------------------------------------- rendering

def render_loop(loop: dict[str, Any] | None, add: Callable[[str], None]) -> None:
    """The local loop against SAM: part of section 3."""
    if loop is None:
        return
    add("### The local loop against SAM (issue 12)")
    add("")
    add("Side by side on the same model (examples/iris/model), the image `python -m deployer build` made of it "
        "on the stand-in base, and the same event; variants alternate, the order rotating every round, after one "
        "unmeasured warm-up each (bench/local_invoke.py `run_loop`). SAM runs with no AWS_* variable (no STS "
        "call) and no telemetry. *ratio* = SAM's time / ours, median of the per-round ratios, 95% bootstrap "
        "interval.")
    add("")
    if loop.get("error"):
        add(f"Not measured: {loop['error']}")
        add("")
        return
    add(f"Image: `{loop.get('image')}` (base `{loop.get('base')}`); body {loop.get('body_bytes')} bytes, v2 JSON.")
    add("")
    add("| what | ours median / p90 ms | SAM median / p90 ms | SAM / ours (95% CI) | total time ratio (95% CI) | n |")
    add("|---|---|---|---|---|---|")
    inv = (loop.get("invoke") or {}).get("samples") or {}
    if inv.get("deployer invoke"):
        st = _ratio_stats(inv["deployer invoke"], inv["sam local invoke"])
        add(f"| invoke: `deployer invoke` vs `sam local invoke` | {fmt_ms(st['ours'])} / {fmt_ms(st['ours_p90'])} | "
            f"{fmt_ms(st['sam'])} / {fmt_ms(st['sam_p90'])} | {st['ratio']:.2f}x ({st['lo']:.2f}–{st['hi']:.2f}) | "
            f"{st['mean_ratio']:.2f}x ({st['mean_lo']:.2f}–{st['mean_hi']:.2f}) | {st['n']} |")
    srv = loop.get("served") or {}
    for label, phase, key in (("a request to the running server: `deployer serve` vs `sam local start-api` "
                               "(SAM's default mode: a new container per request)", "default", "sam local start-api"),
                              ("warm request: `deployer serve` vs `sam local start-api --warm-containers EAGER`",
                               "eager", _EAGER)):  # fmt: skip
        s = (srv.get(phase) or {}).get("samples") or {}
        if s.get("deployer serve") and s.get(key):
            st = _ratio_stats(s["deployer serve"], s[key])
            add(f"| {label} | {fmt_ms(st['ours'])} / {fmt_ms(st['ours_p90'])} | {fmt_ms(st['sam'])} / "
                f"{fmt_ms(st['sam_p90'])} | {st['ratio']:.0f}x ({st['lo']:.0f}–{st['hi']:.0f}) | "
                f"{st['mean_ratio']:.0f}x ({st['mean_lo']:.0f}–{st['mean_hi']:.0f}) | {st['n']} |")
    add("")
    ep = inv.get("LocalEndpoint in-process") or []
    if ep:
        add(f"In the same invoke rounds, `LocalEndpoint` in-process (RIE start + the runtime's init + the request + "
            f"the stop, no CLI): median {fmt_ms(median(ep) / 1e6)} ms, p90 {fmt_ms(p90(ep) / 1e6)} ms.")
    shown = {"python alone": "python -c pass", "CLI imports alone": "python -c 'import deployer.cli'",
             "CLI + local runtime imports": "python -c 'import deployer.cli, deployer.local'"}
    for key, cmd in shown.items():
        if inv.get(key):
            add(f"`{cmd}` (same rounds): median {fmt_ms(median(inv[key]) / 1e6)} ms.")
    ready = dict(srv.get("ready_s") or {})
    for phase, key in (("default", "sam local start-api"), ("eager", _EAGER)):
        if (srv.get(phase) or {}).get("ready_s") is not None:
            ready[key] = srv[phase]["ready_s"]
    if ready:
        add("Start to first 200: " + ", ".join(f"`{k}` {v:.1f} s" for k, v in ready.items()) + ".")
    hops = srv.get("hops") or {}
    if hops.get("gateway_keepalive_ns"):
        add(f"Our warm request in-process, kept-alive connection, alternating: through the gateway "
            f"{fmt_ms(median(hops['gateway_keepalive_ns']) / 1e6)} ms, the same event straight to the emulator "
            f"{fmt_ms(median(hops['emulator_direct_ns']) / 1e6)} ms (medians, n={len(hops['emulator_direct_ns'])}).")
    for error in (srv.get("error"), (srv.get("default") or {}).get("error"), (srv.get("eager") or {}).get("error")):
        if error:
            add(f"Served comparison failed: {error[:500]}")
    errs = (loop.get("invoke") or {}).get("errors") or []
    if errs:
        add("Failed invokes (not counted): " + "; ".join(e[:200].replace("|", "/").replace("\n", " ") for e in errs))
    cmds = {**((loop.get("invoke") or {}).get("commands") or {}), **(srv.get("commands") or {})}
    if cmds:
        add("")
        add("Commands: " + "; ".join(f"`{v}`" for v in cmds.values()) + ".")
    add("")


def render_deploy(dep: dict[str, Any] | None, add: Callable[[str], None]) -> None:
    if dep is None:
        return
    add("## 7. Deploy: `push` on the local target (issue 12)")
    add("")
    add("bench/deploy.py: per round a new temporary project, `python -m deployer push MODEL --project P --json` "
        "with no AWS_* variable (so the local target; the first push starts the project's local cloud), three "
        "times: the first push of v1, v1 again (unchanged), v2 (the same model retrained: changed); then the "
        "cloud is stopped. Time = spawn to exit of the push, which exits after its smoke test passed through the "
        "served URL; one more request to the URL confirms it serves. The unchanged push is checked against the "
        "local cloud's AWS endpoint through boto3 (stack events, LastUpdatedTime, executed change sets, the "
        "function's versions), before and after.")
    add("")
    if dep.get("error"):
        add(f"Not measured: {dep['error']}")
        add("")
        return
    rounds = dep.get("rounds") or []
    times = _deploy_times(rounds)
    add(f"Model: {dep.get('model')}; folder sizes {dep.get('model_bytes')} bytes.")
    add("")
    add("| push | median s (95% CI) | p90 s | / first push (paired median) | layer bytes uploaded | config bytes | "
        "stack | image kind | then a request: status, ms | n |")
    add("|---|---|---|---|---|---|---|---|---|---|")
    for step in ("first", "unchanged", "changed"):
        recs = [r[step] for r in rounds if isinstance(r.get(step), dict) and not r[step].get("error")]
        if not recs:
            add(f"| {step} | – | – | – | – | – | – | – | – | 0 |")
            continue
        t = times[step]
        ratios = [r[step]["seconds"] / r["first"]["seconds"] for r in rounds
                  if isinstance(r.get(step), dict) and not r[step].get("error") and isinstance(r.get("first"), dict)
                  and not r["first"].get("error")]
        upl = sorted({rec.get("uploaded_bytes") for rec in recs}, key=str)
        cfg = sorted({rec.get("uploaded_config_bytes") for rec in recs}, key=str)
        stack = sorted({(rec.get("steps") or {}).get("stack", "?") for rec in recs})
        kind = sorted({str(rec.get("image_kind")) for rec in recs})
        serve = f"{sorted({rec.get('serve_status') for rec in recs}, key=str)}, {median([rec['serve_ms'] for rec in recs]):.1f}"
        add(f"| {step} | {t['med']:.2f} ({t['lo']:.2f}–{t['hi']:.2f}) | {t['p90']:.2f} | "
            f"{median(ratios):.2f}x | {', '.join(f'{u:,}' if isinstance(u, int) else str(u) for u in upl)} | "
            f"{', '.join(str(c) for c in cfg)} | {', '.join(stack)} | {', '.join(kind)} | {serve} | {t['n']} |")
    add("")
    diffs = [r["unchanged"].get("stack_diff") for r in rounds if isinstance(r.get("unchanged"), dict)]
    diffs = [d for d in diffs if d]
    if diffs:
        add("Unchanged push, read from the local cloud before and after (boto3): new stack events "
            f"{sorted({d['new_events'] for d in diffs})}; change sets executed {[d['new_executed_change_sets'] for d in diffs]}; "
            f"LastUpdatedTime moved {sorted({d['last_updated_moved'] for d in diffs})}; stack status "
            f"{sorted({' → '.join(d['status']) for d in diffs})}; versions {diffs[0]['versions'][0]} → "
            f"{diffs[0]['versions'][1]} (round 1).")
    changed = [r["changed"] for r in rounds if isinstance(r.get("changed"), dict) and not r["changed"].get("error")]
    if changed:
        steps = sorted({str(c.get("steps")) for c in changed})
        add(f"Changed push: steps {', '.join(steps)}; new function version "
            f"{sorted({str(c.get('function_version')) for c in changed})}.")
        if any((c.get("steps") or {}).get("alias") == "restored" for c in changed):
            add("Note: the changed push ends with \"move alias live from version N back to the stack's version (a "
                "rollback had moved it)\": right after the stack update the alias still carries the canary's "
                "weights (the local cloud's traffic shift runs after UPDATE_COMPLETE), and push's post-deploy "
                "check (deployer/deploy/push.py `_alias_records`, called again after the deploy) takes them for a "
                "rollback's leftovers and moves all traffic at once: the alarm-watched canary is cut short. So the "
                "changed push's time here does not include the 5 s shift.")
    stopped = [r.get("cloud_stopped") for r in rounds]
    add(f"Local cloud stopped after each round: {stopped}.")
    errs = [f"round {i + 1}: {r.get('error') or next((v['error'] for v in r.values() if isinstance(v, dict) and v.get('error')), '')}"
            for i, r in enumerate(rounds) if r.get("error") or any(isinstance(v, dict) and v.get("error") for v in r.values())]
    if errs:
        add("Failures: " + "; ".join(e[:300].replace("|", "/").replace("\n", " ") for e in errs))
    add("")


# --------------------------------------------------------------------------- merge

_SECTION = re.compile(r"(?m)^## ")


def _split(text: str) -> tuple[str, dict[str, str]]:
    parts = _SECTION.split(text)
    head, sections = parts[0], {}
    for part in parts[1:]:
        title = part.split("\n", 1)[0].strip()
        sections[title] = "## " + part
    return head, sections


def _targets(section: str | None) -> tuple[dict[str, str], dict[str, str]]:
    rows: dict[str, str] = {}
    whys: dict[str, str] = {}
    for line in (section or "").splitlines():
        if line.startswith("| ") and not line.startswith("| target |"):
            rows[line.split("|")[1].strip()] = line
        m = re.match(r"- \*\*(.+?)\*\*: ", line)
        if m:
            whys[m.group(1)] = line
    return rows, whys


def _order(title: str) -> tuple[float, str]:
    if title == "Targets":
        return (0.0, title)
    m = re.match(r"(\d+)\.", title)
    return (float(m.group(1)) if m else 99.0, title)


def merge(old: str, new: str) -> str:
    """`new` (a run of some sections) merged into `old` (module docstring)."""
    o_head, o_secs = _split(old)
    n_head, n_secs = _split(new)
    o_rows, o_whys = _targets(o_secs.get("Targets"))
    n_rows, n_whys = _targets(n_secs.get("Targets"))
    ran = [t for t, row in n_rows.items() if "not run" not in row]
    rows = [n_rows[t] if t in ran else row for t, row in o_rows.items()]
    rows += [n_rows[t] for t in ran if t not in o_rows]
    order = [t for t in o_rows] + [t for t in ran if t not in o_rows]  # the rows' order
    whys = [n_whys[t] if t in ran else o_whys[t] for t in order if t in (n_whys if t in ran else o_whys)]
    table = ["## Targets", "", "| target | measured | limit | verdict | margin |", "|---|---|---|---|---|", *rows, ""]
    if whys:
        table += ["Why (where missed or not measured), and notes:", "", *whys, ""]
    sections = {**o_secs, **{k: v for k, v in n_secs.items() if k != "Targets"}}
    sections["Targets"] = "\n".join(table) + "\n"
    kept = [k for k in o_secs if k not in n_secs and k != "Targets"]
    o_lines = [ln for ln in o_head.splitlines() if ln.startswith(("- Command", "- Date", "- Machine", "- Handler"))]
    # older merges' notes, while some section they name is still kept
    note = "".join(ln + "\n" for ln in o_head.splitlines() if ln.startswith("- Kept from")
                   and any(f"'{k}'" in ln.split(" and their target rows")[0] for k in kept))
    if kept or set(o_rows) - set(ran):
        note = ("- Kept from the previous report (not run this time): sections " + ", ".join(f"'{k}'" for k in kept)
                + " and their target rows; that report's " + "; ".join(ln[2:] for ln in o_lines) + "\n") + note
    head = n_head.rstrip("\n") + "\n" + note + "\n"
    body = "".join(sections[k].rstrip("\n") + "\n\n" for k in sorted(sections, key=_order))
    return head + body.rstrip("\n") + "\n"
