# SPDX-License-Identifier: MPL-2.0
"""models/retrain.sh trains, checks and measures what the card says a version does (its dry run, no training)."""

import os
import re
import subprocess
import unittest
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "retrain.sh"


def dry(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RETRAIN_DRY_RUN": "1"}
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, check=False)


def commands(*args: str) -> list[str]:
    out = dry(*args)
    if out.returncode != 0:
        raise AssertionError(f"retrain.sh {args}: exit {out.returncode}: {out.stderr}")
    return [line.replace("nice -n 10 python3 -m ", "") for line in out.stdout.splitlines()]


class Train(unittest.TestCase):
    def test_every_model_of_a_version_with_both_seeds(self):
        cmds = commands("train", "c4", "impulses=1 epochs=210", "16000", "8000")
        trains = [c for c in cmds if c.startswith("training.train ")]
        for rate, k in ((16000, "16k"), (8000, "8k")):
            for seed, suffix in ((0, ""), (1, "-seed1")):
                self.assertIn(f"training.train final --rate {rate} --seed {seed} --name={suffix} --tag final{k}-c4 "
                              "--set impulses=1 epochs=210", trains)
                self.assertIn(f"training.train cv --rate {rate} --seed {seed} --tag cv{k}-c4 --set impulses=1 epochs=210",
                              trains)
        xcorpus = [c for c in trains if " xcorpus " in c]
        self.assertEqual(len(xcorpus), 4)
        self.assertTrue(all("--rate 16000" in c and "--tag xcorpus16k-c4" in c for c in xcorpus))  # 16 kHz only
        emodb = [c for c in xcorpus if "--only emodb" in c]
        self.assertEqual(len(emodb), 2)
        self.assertTrue(all(c.endswith("bucket=0") for c in emodb))
        self.assertEqual(sorted(re.search(r"--name=(\S*)", c).group(1) for c in xcorpus),
                         ["", "-nobucket", "-nobucket-seed1", "-seed1"])  # the names refit and ensemble look for
        self.assertEqual(len(trains), 12)
        self.assertEqual(cmds[:2], ["training.extract --rate 16000", "training.extract --rate 8000"])  # banks first

    def test_one_rate(self):
        trains = [c for c in commands("train", "x", "epochs=2", "8000") if c.startswith("training.train ")]
        self.assertEqual(len(trains), 4)
        self.assertTrue(all("--rate 8000" in c for c in trains))

    def test_bad_arguments_are_refused(self):
        for args in (("train", "x"), ("train", "x", "epochs=2", "44100"), ("bogus", "x"), ("check",),
                     ("train", "x", ""), ("train", "x", "16000")):  # no recipe: it would train the defaults
            out = dry(*args)
            self.assertEqual(out.returncode, 2, args)
            self.assertTrue(out.stderr, args)


class CheckAndElement(unittest.TestCase):
    def test_the_check_compares_the_new_pair_on_the_validation_speakers(self):
        cmds = commands("check", "c4", "16000")
        self.assertEqual(cmds[-1], "training.evaluate --rate 16000 --final-runs final16k-c4-ens2")
        self.assertEqual(cmds[0], "training.evaluate --rate 16000 --refit-temperature final --tag final16k-c4")
        self.assertIn("training.ensemble --rate 16000 --src final16k-c4 --dst final16k-c4-ens2 --runs final "
                      "final-seed1 --name final", cmds)

    def test_element_runs_every_condition_and_the_ratio_0_runs_at_16k_only(self):
        cmds = commands("element", "c4", "16000", "8000")
        for rate in (16000, 8000):
            mine = [c for c in cmds if f"training.element --rate {rate}" in c]
            self.assertEqual(sum("--condition" in c and "--min-speech-ratio" not in c for c in mine), 7)
            self.assertIn(f"training.element --rate {rate} --nonspeech", mine)
            self.assertEqual(sum("--min-speech-ratio 0" in c for c in mine), 2 if rate == 16000 else 0)
        self.assertTrue(cmds[0].startswith("cargo build"))

    def test_element_ends_with_the_desktop_sounds_and_the_dc_demo_of_the_version(self):
        cmds = commands("element", "c4", "16000")
        self.assertIn("--example emotions", cmds[0])  # the binary training.examples runs
        self.assertEqual(cmds[-1], "training.examples --name c4")
        self.assertEqual(sum(c.startswith("training.examples") for c in cmds), 1)  # once, for both rates


if __name__ == "__main__":
    unittest.main()
