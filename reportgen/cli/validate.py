"""`reportgen validate`: check a study and every input it names, and say what would run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from reportgen.cli.app import app
from reportgen.cli.terminal import cli_errors, shown
from reportgen.errors import ReportgenError

if TYPE_CHECKING:
    from reportgen.inputs.model_check import ModelCheck
    from reportgen.inputs.responses import StudyInputs


@app.command()
def validate(
    config: Annotated[Path, typer.Argument(help="The study config (TOML) to check.")],
) -> None:
    """Check CONFIG and every input it names, report all problems at once, print what would run."""
    # imported here so that `reportgen --help` does not pay for torch and pandas
    from reportgen.config import load_config
    from reportgen.inputs.responses import load_study_inputs

    with cli_errors():
        study = load_config(config).with_overrides()  # also checks that the device exists
        if study.stimuli.generator is not None:
            # generated stimuli exist only once a run makes them; the generator checks them then
            name = study.stimuli.generator.name
            Console().print(
                f"[green]valid:[/green] {shown(str(config))}; stimuli come from the built-in "
                f"'{name}' generator at run time, so the stimulus checks happen then.",
                highlight=False,
            )
            return
        problems: list[str] = []
        inputs = None
        try:
            inputs = load_study_inputs(study)
        except ReportgenError as err:
            problems += err.problems
        check = None
        if study.model is not None:  # loading the model needs no stimuli: report both at once
            from reportgen.inputs.model_check import check_model

            try:
                with Console(stderr=True).status("Loading the model and running it on a sample"):
                    check = check_model(study, inputs.stimuli if inputs is not None else None)
            except ReportgenError as err:
                problems += err.problems
        if problems or inputs is None:
            raise ReportgenError(problems)
    print_study_summary(inputs, Console(), check)


def print_study_summary(inputs: StudyInputs, out: Console, check: ModelCheck | None = None) -> None:
    """What a run of this study would analyse: stimuli, factors, classes, observers, model."""
    from rich.table import Table

    cfg, st = inputs.config, inputs.stimuli
    out.print(
        f"[bold]{shown(cfg.report.title)}[/bold]  {shown(cfg.report.period)}", highlight=False
    )
    out.print(f"config {shown(str(cfg.path))}, report language {cfg.report.language}")

    counts = st.table["condition"].value_counts(sort=False)
    out.print(f"stimulus table {shown(st.source)}", highlight=False, soft_wrap=True)
    table = Table(title=f"{len(st)} stimuli", title_justify="left")
    table.add_column("condition")
    table.add_column("stimuli", justify="right")
    for condition, n in counts.items():
        table.add_row(shown(str(condition)), str(int(n)))
    out.print(table)

    listed = ", ".join(st.classes[:20]) + (
        f", ... ({len(st.classes)} in all)" if len(st.classes) > 20 else ""
    )
    out.print(f"[bold]classes[/bold] ({len(st.classes)}): {shown(listed)}", highlight=False)

    factors = Table(title="factor groups", title_justify="left")
    factors.add_column("group")
    factors.add_column("role")
    factors.add_column("columns")
    for group, cols in st.groups.items():
        described = ", ".join(f"{c} ({st.kinds[c]})" for c in cols)
        role = cfg.roles.get(group, "diagnostic")
        # a role taken from the name is a guess the report's lights rest on: say so
        role += " (assumed: set it in [roles])" if group in cfg.roles_assumed else ""
        factors.add_row(shown(group), role, shown(described))
    out.print(factors)

    if cfg.model is not None:
        m = cfg.model
        layers = m.layers if isinstance(m.layers, str) else ", ".join(m.layers) or "none"
        weights = m.weights if m.weights is not None else "(built by the function)"
        out.print(
            f"[bold]model[/bold] {shown(m.arch)}, weights {shown(str(weights))}, "
            f"layers {shown(layers)}, reduction {m.reduction}, projection {m.projection}",
            highlight=False,
        )
        out.print(f"[bold]preprocessing[/bold]: {shown(m.preprocess.describe())}", highlight=False)
        if check is not None:
            from reportgen.findings.evidence import chance_level

            listed = ", ".join(check.layers) or "none (decisions only)"
            out.print(f"[bold]layers analysed[/bold]: {shown(listed)}")
            if check.n:
                chance = chance_level(check.labels)
                out.print(
                    f"[bold]model check[/bold]: right on {check.correct} of {check.n} standard "
                    f"stimuli ({check.accuracy:.1%}; chance {chance:.1%})",
                    highlight=False,
                )
            else:
                out.print(
                    "[bold]model check[/bold]: no standard stimuli, so the model's accuracy "
                    "is not checked"
                )
    else:
        models = inputs.decisions.models if inputs.decisions is not None else ()
        out.print(
            f"[bold]decision-only study[/bold]: logged decisions of {len(models)} model(s): "
            f"{shown(', '.join(models))}; layer analysis needs the model weights and is skipped",
            highlight=False,
        )
    if inputs.humans is not None:
        h = inputs.humans
        simulated = " [yellow](simulated)[/yellow]" if cfg.humans and cfg.humans.simulated else ""
        out.print(
            f"[bold]people[/bold]{simulated}: {len(h.humans)} observer(s), {len(h.table)} trials: "
            f"{shown(', '.join(h.observers[:12]))}" + (" ..." if len(h.observers) > 12 else ""),
            highlight=False,
        )
    else:
        out.print(
            "[bold]people[/bold]: none (no \\[humans] section); "
            "model-versus-people parts are skipped"
        )
    a = cfg.analysis
    out.print(
        f"[bold]analysis[/bold]: {a.permutations} permutations, alpha {a.alpha}, "
        f"bootstrap {a.bootstrap}, device {a.device}, seed {a.seed}",
        highlight=False,
    )
    from reportgen.findings.evidence import accuracy_alarm
    from reportgen.inputs.study_data import model_observer_id
    from reportgen.report.format import Formatter
    from reportgen.report.sections import caveat_sentence
    from reportgen.report.strings import load_strings

    english = Formatter(load_strings("en"))
    warned = 0

    def warn(text: str) -> None:
        nonlocal warned
        warned += 1
        out.print(f"[yellow]warning:[/yellow] {shown(text)}", highlight=False, soft_wrap=True)

    if check is not None and check.n:
        chance = chance_level(check.labels)
        if accuracy_alarm(check.correct, check.n, chance) is not None:
            warn(
                f"the model {model_observer_id(cfg)} is not clearly better than chance on "
                f"these standard stimuli ({check.correct} of {check.n} right, {check.accuracy:.1%}"
                f"; chance {chance:.1%}): a report would describe a model that does not work. "
                "Check [model.preprocess] (mean, std, resize: what the model was trained with), "
                "that stimuli.classes follows the model's output order, and the weights"
            )
        if len(set(check.answers)) == 1:
            only = st.classes[check.answers[0]] if check.answers[0] < len(st.classes) else "?"
            warn(
                f"the model gave the same answer ({only!r}) to all {check.n} sampled stimuli; "
                "if it does so on every stimulus, its decisions carry no information and the "
                "run stops (an untrained model or the wrong preprocessing often does this)"
            )
    if (few := _few_to_analyse(inputs)) is not None:
        warn(few)
    for c in inputs.warnings:
        warn(caveat_sentence(c.code, c.detail, english))
    from reportgen.inputs.stimuli import image_notices

    for col in st.integer_coded:
        levels = st.table[col].nunique()
        out.print(
            f"[yellow]notice:[/yellow] column {shown(repr(col))} holds {levels} whole-number "
            "values, so it is analysed as categorical (a code, such as a part type); list it "
            "in stimuli.continuous if it is a count or a measurement",
            highlight=False,
            soft_wrap=True,
        )
    for line in image_notices(st, cfg.path.parent):
        out.print(f"[yellow]notice:[/yellow] {shown(line)}", highlight=False, soft_wrap=True)
    if warned:
        said = "the warning above" if warned == 1 else f"the {warned} warnings above"
        out.print(
            f"[green]valid:[/green] every input was checked and `reportgen run` can start; "
            f"read {said} first."
        )
    else:
        out.print("[green]valid:[/green] every input was checked; `reportgen run` can start.")


def _few_to_analyse(inputs: StudyInputs) -> str | None:
    """A warning when the stimuli the information analyses use (analysis.conditions) are
    fewer than the decisions they need per class times the classes: a model whose answers
    spread evenly cannot reach that, and the run stops when fewer than two classes do."""
    from analyses.drivers import min_class_trials
    from reportgen.inputs.stimuli import widest_group

    st, conditions = inputs.stimuli, inputs.config.analysis.conditions
    analysed = st.table if conditions is None else st.table[st.table["condition"].isin(conditions)]
    need, k = min_class_trials(widest_group(st)), len(st.classes)
    if len(analysed) == 0 or len(analysed) >= need * k:
        return None
    where = "all stimuli" if conditions is None else f"analysis.conditions: {', '.join(conditions)}"
    return (
        f"the information analyses use {len(analysed)} stimuli ({where}) and need about {need} "
        f"of a model's decisions in each of at least two classes ({need * k} for {k} "
        "classes if the answers spread evenly); the run stops if fewer than two classes reach "
        f"{need}: add stimuli there, or name more conditions in analysis.conditions"
    )
