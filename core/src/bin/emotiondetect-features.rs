// SPDX-License-Identifier: MPL-2.0
//! Feature extraction for the training pipeline: the element's own code.
//!
//! `emotiondetect-features [--narrowband] [--pitch] [--remove-dc] --print-params`
//! prints the feature parameters as JSON (`--narrowband`: the 8 kHz set,
//! otherwise 16 kHz; `--pitch`: with the pitch and voicing features;
//! `--remove-dc`: each frame's mean removed first).
//! Without `--print-params` it reads records from stdin — `u32` LE sample
//! count, then that many `f32` LE samples — and answers each with `u32` LE
//! frame count, `u32` LE features per frame, then the frames as `f32` LE,
//! frame-major. With `--speech`, each answer is followed by one byte per
//! frame, the element's voice-activity detector's verdict (`vad::Frame`):
//! 0 quiet, 1 speech (the frames speaker adaptation learns from), 2 noisy,
//! 3 steady (not noise-like), 4 tonal, 5 out of band, 6 steady noise. It
//! stops at end of input.

use std::io::{self, BufReader, BufWriter, ErrorKind, Read, Write};
use std::process::ExitCode;

use emotiondetect_core::features::{FeatureExtractor, FeatureParams};
use emotiondetect_core::vad::{Frame, VoiceActivity};

fn run(params: FeatureParams, with_speech: bool) -> io::Result<()> {
    let mut extractor = FeatureExtractor::new(&params).map_err(io::Error::other)?;
    let mut input = BufReader::new(io::stdin().lock());
    let mut output = BufWriter::new(io::stdout().lock());
    let mut bytes = Vec::new();
    let mut samples = Vec::new();
    let mut frames = Vec::new();
    let mut speech = Vec::new();
    let mut vad = VoiceActivity::default();
    loop {
        let mut len = [0u8; 4];
        match input.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let n = u32::from_le_bytes(len) as usize;
        bytes.resize(n * 4, 0);
        input.read_exact(&mut bytes)?;
        samples.clear();
        samples.extend(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );

        extractor.reset();
        vad.reset();
        frames.clear();
        speech.clear();
        extractor.push_with_stats(&samples, |_, f, stats| {
            frames.extend_from_slice(f);
            speech.push(match vad.frame(stats) {
                Frame::Quiet => 0,
                Frame::Speech => 1,
                Frame::Noisy => 2,
                Frame::Steady => 3,
                Frame::Tonal => 4,
                Frame::OutOfBand => 5,
                Frame::SteadyNoise => 6,
            });
        });
        let n_features = params.n_features();
        output.write_all(&((frames.len() / n_features) as u32).to_le_bytes())?;
        output.write_all(&(n_features as u32).to_le_bytes())?;
        for v in &frames {
            output.write_all(&v.to_le_bytes())?;
        }
        if with_speech {
            output.write_all(&speech)?;
        }
        output.flush()?;
    }
}

fn main() -> ExitCode {
    let mut params = FeatureParams::default();
    let (mut print, mut with_speech, mut with_pitch, mut remove_dc) = (false, false, false, false);
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--narrowband" => params = FeatureParams::narrowband(),
            "--pitch" => with_pitch = true,
            "--remove-dc" => remove_dc = true,
            "--print-params" => print = true,
            "--speech" => with_speech = true,
            other => {
                eprintln!("emotiondetect-features: unknown argument {other:?} (use --narrowband, --pitch, --remove-dc, --print-params, --speech)");
                return ExitCode::from(2);
            }
        }
    }
    if with_pitch {
        params = params.with_pitch();
    }
    if remove_dc {
        params = params.with_dc_removal();
    }
    if print {
        println!("{}", params.to_json());
        return ExitCode::SUCCESS;
    }
    match run(params, with_speech) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("emotiondetect-features: {e}");
            ExitCode::FAILURE
        }
    }
}
