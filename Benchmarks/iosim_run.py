"""One place for the benchmark scripts' call of the iosim binary: `result(iosim, args)` runs
`iosim ARGS --format json` and returns its first result (a schedule's counts, tiles and, with
`--hardware`, its time estimate); a failing run raises, naming nothing it did not print."""
import json
import subprocess


def result(iosim, args):
    """The first entry of `results` of `iosim ARGS --format json`."""
    out = subprocess.run([str(iosim), *map(str, args), "--format", "json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["results"][0]
