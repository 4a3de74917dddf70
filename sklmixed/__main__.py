"""``python -m sklmixed``: fit and print the sleepstudy model from the bundled data."""

from . import LinearMixedModel, load_dataset


def main() -> None:
    data = load_dataset("sleepstudy")
    model = LinearMixedModel("reaction ~ 1 + days + (1 + days | subj)", data).fit(progress=False)
    print(model)
    print(model.optsum)


if __name__ == "__main__":
    main()
