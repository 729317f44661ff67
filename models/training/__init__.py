# SPDX-License-Identifier: MPL-2.0
"""Training, evaluation and export of the emotiondetect models (ResLSTM-SA).

Run the modules from the `models/` directory, e.g. `python3 -m training.train final --rate 16000`.
Modules that only need numpy/scipy/soundfile (common, windows, channel, nonspeech,
extract) never import torch, so the unit tests in `tests/` run without it.
"""
