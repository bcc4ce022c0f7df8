"""``mlstudio predict NAME@ALIAS --input NS/DATASET --output NS/NAME``: batch scoring."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, console, emit

app = typer.Typer(add_completion=False)


@app.command("predict")
def predict(
    ref: Annotated[str, typer.Argument(help="NAME@ALIAS or NAME/VERSION")],
    input: Annotated[str, typer.Option("--input", "-i", help="Dataset to score, NS/NAME[@V]")],
    output: Annotated[str, typer.Option("--output", "-o", help="Dataset to write, NS/NAME")],
    domain: Annotated[
        str, typer.Option("--domain", help="Domain the data and the model are read under")
    ] = "production",
    json_output: JsonFlag = False,
) -> None:
    """Score every row of a dataset with a registered model; the output (the input's columns,
    prediction, model_version) is a governed dataset classified like what it derives from."""
    result = context.studio().models.predict(ref, input=input, output=output, domain=domain)

    def human(r: dict[str, Any]) -> None:
        console().print(
            f"scored {r['rows']} rows of {r['input']} with {r['model']} -> {r['output']} "
            f"(prediction: {r['classification']})",
            markup=False,
        )

    emit(result, json_output, human)
