"""Parses the repository's Dockerfile (with `dockerfile-parse`) and docker-compose.yml (with
PyYAML), as Docker would read them, for tests/container.rs: no image registry is reachable in
CI, so the files are checked by real parsers and the binary is run the way the image runs it.

Prints one JSON object on stdout: the build stages, the final stage's ENV, USER, VOLUME,
EXPOSE, HEALTHCHECK and ENTRYPOINT, and the compose document. Exits 2 if a file does not parse.
"""

import io
import json
import sys

import yaml
from dockerfile_parse import DockerfileParser


def instructions(parser, name):
    return [i["value"] for i in parser.structure if i["instruction"] == name]


def final_stage(parser):
    """The instructions after the last FROM."""
    last_from = max(i for i, ins in enumerate(parser.structure) if ins["instruction"] == "FROM")
    return parser.structure[last_from:]


def main() -> int:
    dockerfile, compose_file = sys.argv[1], sys.argv[2]
    try:
        with open(dockerfile, "rb") as handle:
            # An in-memory copy: the parser never writes back to the file it was given.
            parser = DockerfileParser(fileobj=io.BytesIO(handle.read()))
        structure = parser.structure
        with open(compose_file, encoding="utf-8") as handle:
            compose = yaml.safe_load(handle)
    except Exception as error:  # the parser's message says what is wrong
        print(json.dumps({"error": repr(error)}))
        return 2
    stages = []
    for value in instructions(parser, "FROM"):
        parts = value.split()
        stages.append({"image": parts[0], "name": parts[2] if len(parts) > 2 else None})
    last = final_stage(parser)
    pick = lambda name: [i["value"] for i in last if i["instruction"] == name]
    entrypoint = pick("ENTRYPOINT")
    print(json.dumps({
        "instructions": len(structure),
        "stages": stages,
        "env": parser.envs,
        "user": (pick("USER") or [None])[-1],
        "volumes": [json.loads(v) if v.startswith("[") else v.split() for v in pick("VOLUME")],
        "expose": pick("EXPOSE"),
        "healthcheck": (pick("HEALTHCHECK") or [None])[-1],
        "entrypoint": json.loads(entrypoint[-1]) if entrypoint else None,
        "copiesFromBuild": any("--from=build" in v for v in pick("COPY")),
        "compose": compose,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
