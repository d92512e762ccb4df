"""atheris harnesses for long fuzzing runs (bench/fuzz/README.md); the suite's hypothesis tests are the short ones."""

import sys
from pathlib import Path

FOLDER = Path("var/fuzz")


def libfuzzer_args(name: str, seeds: list[bytes], tokens: list[str]) -> list[str]:
    """libFuzzer's arguments, adding unless given: a corpus folder under var/fuzz/ (seeded on first run), the artifact
    prefix var/fuzz/ and a dictionary of the tokens."""
    args = list(sys.argv)
    if not any(not arg.startswith("-") for arg in args[1:]):
        folder = FOLDER / name
        if not folder.exists():
            folder.mkdir(parents=True)
            for number, seed in enumerate(seeds):
                (folder / f"seed{number}").write_bytes(seed)
        args.append(str(folder))
    if not any(arg.startswith("-artifact_prefix=") for arg in args):
        args.append(f"-artifact_prefix={FOLDER}/")
    if not any(arg.startswith("-dict=") for arg in args):
        dictionary = FOLDER / f"{name}.dict"
        dictionary.parent.mkdir(parents=True, exist_ok=True)
        dictionary.write_text("".join(f'"{_escape(token)}"\n' for token in tokens))
        args.append(f"-dict={dictionary}")
    return args


def _escape(token: str) -> str:
    """A dictionary entry: printable ASCII as is, anything else (and quote, backslash) as \\xNN."""
    return "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\x{b:02x}" for b in token.encode())
