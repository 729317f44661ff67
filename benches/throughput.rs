// SPDX-License-Identifier: MPL-2.0
//! End-to-end throughput of the element, printed as figures (not asserted).
//!
//!     cargo bench --bench throughput                      # both parts, defaults
//!     cargo bench --bench throughput -- single --minutes 60 --runs 5
//!     cargo bench --bench throughput -- single --model-file other.onnx   # another 16 kHz model (single, many, live)
//!     cargo bench --bench throughput -- single --rate 8000   # the 8 kHz model (resampled in both pipelines; `single` only,
//!                                                            # with --model-file an 8 kHz model)
//!     cargo bench --bench throughput -- many --streams 1000 --seconds 30
//!     cargo bench --bench throughput -- pauses --minutes 20 --runs 3
//!     cargo bench --bench throughput -- files --files 200 --file-seconds 3
//!
//! `single`: one hour of 16 kHz mono speech (the bundled demo looped)
//! through `filesrc ! wavparse ! emotiondetect ! fakesink`; the element's
//! CPU time is the pipeline's minus the same pipeline's without the element,
//! medians of alternating runs.
//!
//! `files`: short files one after another in one process, one
//! `single` pipeline each (`--files`, default 200, of `--file-seconds`,
//! default 3 s of the demo speech), as an application that classifies
//! recordings does: the element's CPU per file and the audio per
//! CPU-second. It runs before the other parts, so the first file loads the
//! model (which then stays loaded; `EMOTIONDETECT_KEEP_MODELS=0`: every
//! file loads it).
//!
//! `pauses`: speech with noise-filled pauses: a minute of the demo speech
//! (looped) and a minute of pink noise at -45 dBFS RMS, alternating, through
//! the `single` pipelines, by default and at `min-speech-ratio=0.05` (only
//! speech frames count): the element's CPU and the windows classified.
//!
//! `soak`: hours of speech (the demo looped) through one
//! `appsrc ! emotiondetect ! fakesink` at full speed: resident memory after
//! the first minute and at the end, and the last window's result against a
//! fresh element fed only that window's audio. Both run without speaker
//! adaptation (`adapt-to-speaker=false`): its statistics of a day of speech
//! and of 3 s rightly differ, and would hide any other state carried over.
//!
//! `many`: N pipelines `filesrc ! wavparse ! emotiondetect ! fakesink` in
//! one process, all started at once; aggregate audio per CPU-second, and
//! resident memory per instance (RSS after all are playing, minus before,
//! divided by N), and how the windows were batched.
//!
//! `live`: N live `appsrc` pipelines fed the demo speech in real time by one
//! thread (`--buffer-ms`, default 20), their starts spread over one second
//! (`--aligned`: all at once): how long the element holds buffers, and the
//! result latency of the windows it classifies. (Until this version the
//! sources were square waves, which the models now gate as non-speech.)

use std::path::{Path, PathBuf};
use std::time::Instant;

use emotiondetect_core::model::{BatchStats, ModelSource, Provider, SharedModel};
use gst::prelude::*;

const RATE: u32 = 16000;

/// CPU time (user + system) of this process so far, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    // Fields 14 and 15 of stat(5), counted after the command name.
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap();
    kb / 1024.0
}

/// The bundled demo speech: its 16 kHz mono S16LE samples, as bytes.
fn demo_pcm() -> Vec<u8> {
    let demo =
        std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/demo-speech.wav"))
            .unwrap();
    demo[demo.windows(4).position(|w| w == b"data").unwrap() + 8..].to_vec()
}

/// `len` bytes of `pcm` from byte `from`, wrapping around its end.
fn looped(pcm: &[u8], from: usize, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let at = (from + out.len()) % pcm.len();
        let n = (len - out.len()).min(pcm.len() - at);
        out.extend_from_slice(&pcm[at..at + n]);
    }
    out
}

/// Writes `seconds` of the demo speech, looped, as a 16 kHz mono WAV.
fn looped_wav(seconds: u64) -> PathBuf {
    let total = (seconds * RATE as u64 * 2) as usize;
    write_wav(&format!("demo-loop-{seconds}s.wav"), || {
        looped(&demo_pcm(), 0, total)
    })
}

/// `n` samples of pink noise (Paul Kellet's filter on uniform white noise)
/// at `dbfs` RMS, as S16LE bytes.
fn pink_pcm(n: usize, dbfs: f64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(9);
    let mut b = [0.0f64; 7];
    let x: Vec<f64> = (0..n)
        .map(|_| {
            let w = rng.f64() - 0.5;
            b[0] = 0.99886 * b[0] + w * 0.0555179;
            b[1] = 0.99332 * b[1] + w * 0.0750759;
            b[2] = 0.96900 * b[2] + w * 0.1538520;
            b[3] = 0.86650 * b[3] + w * 0.3104856;
            b[4] = 0.55000 * b[4] + w * 0.5329522;
            b[5] = -0.7616 * b[5] - w * 0.0168980;
            let pink = b.iter().sum::<f64>() + w * 0.5362;
            b[6] = w * 0.115926;
            pink
        })
        .collect();
    let rms = (x.iter().map(|v| v * v).sum::<f64>() / n as f64).sqrt();
    let gain = 10f64.powf(dbfs / 20.0) / rms;
    x.iter()
        .flat_map(|v| ((v * gain * 32767.0).round() as i16).to_le_bytes())
        .collect()
}

/// Writes `minutes` alternating a minute of the demo speech (looped on)
/// and a minute of pink noise at -45 dBFS RMS, as a 16 kHz mono WAV.
fn pauses_wav(minutes: u64) -> PathBuf {
    write_wav(&format!("speech-pink-{minutes}min.wav"), || {
        let minute = 60 * RATE as usize * 2;
        let (speech, noise) = (demo_pcm(), pink_pcm(60 * RATE as usize, -45.0));
        (0..minutes as usize)
            .flat_map(|m| {
                if m % 2 == 0 {
                    looped(&speech, (m / 2) * minute, minute)
                } else {
                    noise.clone()
                }
            })
            .collect()
    })
}

/// `target/bench-audio/<name>`, written as a 16 kHz mono S16LE WAV of
/// `pcm()` unless it exists.
fn write_wav(name: &str, pcm: impl FnOnce() -> Vec<u8>) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-audio");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    if path.exists() {
        return path;
    }
    let pcm = pcm();
    let total = pcm.len();
    let mut wav = Vec::with_capacity(total + 44);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + total as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&RATE.to_le_bytes());
    wav.extend_from_slice(&(RATE * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(total as u32).to_le_bytes());
    wav.extend_from_slice(&pcm);
    std::fs::write(&path, wav).unwrap();
    path
}

/// `filesrc ! wavparse ! [emotiondetect !] fakesink`, with
/// `audioresample` to `rate` after `wavparse` when it is not the file's;
/// the element reads `model` instead of its built-in model when given.
fn pipeline(path: &Path, with_element: bool, model: Option<&str>, rate: u32) -> gst::Element {
    pipeline_with(path, with_element, model, rate, "")
}

/// [`pipeline`], the element given `props` (`name=value ...`).
fn pipeline_with(
    path: &Path,
    with_element: bool,
    model: Option<&str>,
    rate: u32,
    props: &str,
) -> gst::Element {
    let resample = if rate == RATE {
        String::new()
    } else {
        format!("audioresample ! audio/x-raw,rate={rate} ! ")
    };
    let middle = match (with_element, model) {
        (false, _) => String::new(),
        (true, None) => format!("emotiondetect {props} ! "),
        (true, Some(m)) => format!("emotiondetect model-file=\"{m}\" {props} ! "),
    };
    gst::parse::launch(&format!(
        "filesrc location={} ! wavparse ! {resample}{middle}fakesink",
        path.display()
    ))
    .unwrap()
}

/// Waits for the pipeline's EOS, counting its `emotion` messages; panics on
/// an error.
fn wait_for_eos(p: &gst::Element) -> usize {
    let bus = p.bus().unwrap();
    let mut results = 0;
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{} {:?}", e.error(), e.debug()),
            gst::MessageView::Element(e)
                if e.structure().is_some_and(|s| s.name() == "emotion") =>
            {
                results += 1
            }
            _ => {}
        }
    }
    results
}

/// Plays the pipeline to EOS; the `emotion` messages it posted.
fn run_to_eos(p: &gst::Element) -> usize {
    p.set_state(gst::State::Playing).unwrap();
    let results = wait_for_eos(p);
    p.set_state(gst::State::Null).unwrap();
    results
}

/// Batch counters of the 16 kHz model (built-in, or the file `model`) on the CPU, the instance
/// every pipeline of this process with that model shares; zero when the pipelines run without
/// the element.
fn batch_stats(with_element: bool, model: Option<&str>) -> BatchStats {
    if !with_element {
        return BatchStats::default();
    }
    let source = model.map_or(ModelSource::DEFAULT, |m| ModelSource::File(Path::new(m)));
    SharedModel::get(source, Provider::Cpu, None)
        .unwrap()
        .batch_stats()
}

fn print_batches(before: BatchStats, after: BatchStats) {
    let (calls, windows) = (
        after.calls - before.calls,
        after.sequences - before.sequences,
    );
    println!(
        "  inference: {windows} windows in {calls} calls (mean batch {:.2})",
        windows as f64 / calls.max(1) as f64,
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Returns the element's CPU seconds for the audio.
fn single(minutes: u64, runs: usize, model: Option<&str>, rate: u32) -> f64 {
    let path = looped_wav(minutes * 60);
    let audio = (minutes * 60) as f64;
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        for (with_element, out) in [(true, &mut with), (false, &mut without)] {
            let p = pipeline(&path, with_element, model, rate);
            let before = cpu_seconds();
            run_to_eos(&p);
            out.push(cpu_seconds() - before);
        }
    }
    let (w, wo) = (median(with), median(without));
    let element = w - wo;
    println!(
        "single stream: {minutes} min of speech at {rate} Hz, {runs} runs, medians; model {}",
        model.unwrap_or("built-in")
    );
    println!("  pipeline CPU with element    {w:.3} s");
    println!("  pipeline CPU without element {wo:.3} s");
    println!(
        "  element CPU                  {element:.3} s  ({:.0}x real time)",
        audio / element
    );
    element
}

fn files(count: usize, seconds: u64, model: Option<&str>) {
    let path = looped_wav(seconds);
    // One file through each pipeline first, uncounted: the plugins and the
    // file are loaded for both.
    run_to_eos(&pipeline(&path, false, None, RATE));
    let cpu = [false, true].map(|with_element| {
        let before = cpu_seconds();
        for _ in 0..count {
            run_to_eos(&pipeline(&path, with_element, model, RATE));
        }
        cpu_seconds() - before
    });
    let element = cpu[1] - cpu[0];
    println!(
        "files: {count} files of {seconds} s of speech, one pipeline each, one after another; model {}",
        model.unwrap_or("built-in")
    );
    println!(
        "  pipeline CPU with element {:.3} s, without {:.3} s",
        cpu[1], cpu[0]
    );
    println!(
        "  element CPU {:.2} ms per file ({:.0}x real time)",
        element / count as f64 * 1e3,
        (count as u64 * seconds) as f64 / element
    );
}

fn pauses(minutes: u64, runs: usize) {
    let path = pauses_wav(minutes);
    let settings = [
        ("default", ""),
        ("min-speech-ratio=0.05", "min-speech-ratio=0.05"),
    ];
    let mut cpu = vec![Vec::new(); settings.len()];
    let mut windows = vec![0; settings.len()];
    let mut without = Vec::new();
    for _ in 0..runs {
        for (k, (_, props)) in settings.iter().enumerate() {
            let p = pipeline_with(&path, true, None, RATE, props);
            let before = cpu_seconds();
            windows[k] = run_to_eos(&p);
            cpu[k].push(cpu_seconds() - before);
        }
        let p = pipeline(&path, false, None, RATE);
        let before = cpu_seconds();
        run_to_eos(&p);
        without.push(cpu_seconds() - before);
    }
    let wo = median(without);
    println!("pauses: {minutes} min, a minute of speech and a minute of pink noise at -45 dBFS alternating, {runs} runs, medians");
    for ((name, _), (c, w)) in settings.iter().zip(cpu.into_iter().zip(windows)) {
        let (lo, hi) = c
            .iter()
            .fold((f64::MAX, 0.0f64), |(l, h), &v| (l.min(v), h.max(v)));
        println!(
            "  {name:<24} element CPU {:.3} s (pipeline {lo:.3}–{hi:.3} s), {w} windows classified",
            median(c) - wo
        );
    }
}

/// The same hour through `benches/python_baseline.py` (librosa +
/// onnxruntime), in the same run.
fn versus_python(minutes: u64, runs: usize) {
    let ours = single(minutes, runs, None, RATE);
    let path = looped_wav(minutes * 60);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out =
        std::process::Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
            .arg(root.join("benches/python_baseline.py"))
            .arg(&path)
            .arg(root.join("models/reslstm-sa-16k.onnx"))
            .output()
            .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    if !out.status.success() {
        println!(
            "python baseline failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let python_cpu: f64 = text
        .split("CPU ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|v| v.parse().ok())
        .expect("the baseline prints its CPU time");
    println!(
        "  emotiondetect vs python baseline: {:.1}x less CPU",
        python_cpu / ours
    );
}

/// What one run of `streams` file pipelines cost.
struct ManyRun {
    cpu: f64,
    wall: f64,
    /// RSS before the pipelines were made, and once all were prerolled.
    rss: (f64, f64),
    batches: (BatchStats, BatchStats),
}

fn run_many(path: &Path, streams: usize, with_element: bool, model: Option<&str>) -> ManyRun {
    let rss_before = rss_mib();
    let pipelines: Vec<gst::Element> = (0..streams)
        .map(|_| pipeline(path, with_element, model, RATE))
        .collect();
    for p in &pipelines {
        p.set_state(gst::State::Paused).unwrap();
    }
    for p in &pipelines {
        let (r, _, _) = p.state(gst::ClockTime::from_seconds(60));
        r.unwrap();
    }
    let rss_ready = rss_mib();
    let stats = || batch_stats(with_element, model);
    let batches_before = stats();
    let cpu_before = cpu_seconds();
    let wall = Instant::now();
    for p in &pipelines {
        p.set_state(gst::State::Playing).unwrap();
    }
    for p in &pipelines {
        wait_for_eos(p);
    }
    let cpu = cpu_seconds() - cpu_before;
    let wall = wall.elapsed().as_secs_f64();
    let batches = (batches_before, stats());
    for p in &pipelines {
        p.set_state(gst::State::Null).unwrap();
    }
    ManyRun {
        cpu,
        wall,
        rss: (rss_before, rss_ready),
        batches,
    }
}

fn many(streams: usize, seconds: u64, model: Option<&str>) {
    let path = looped_wav(seconds);
    // The same pipelines without the element first: what reading, parsing
    // and sinking the audio costs by itself.
    let bare = run_many(&path, streams, false, model);
    let full = run_many(&path, streams, true, model);
    let audio = (streams as u64 * seconds) as f64;
    println!(
        "many streams: {streams} pipelines x {seconds} s of speech in one process; model {}",
        model.unwrap_or("built-in")
    );
    println!(
        "  CPU {:.2} s, wall {:.2} s; without the element CPU {:.2} s, wall {:.2} s",
        full.cpu, full.wall, bare.cpu, bare.wall
    );
    print_batches(full.batches.0, full.batches.1);
    println!(
        "  aggregate throughput {:.0}x real time per CPU-second (whole process); \
         the element's CPU alone (difference) {:.0}x",
        audio / full.cpu,
        audio / (full.cpu - bare.cpu)
    );
    println!(
        "  memory: {:.2} MiB per instance (RSS {:.0} -> {:.0} MiB, pipelines prerolled; \
         {:.2} MiB per pipeline without the element)",
        (full.rss.1 - full.rss.0) / streams as f64,
        full.rss.0,
        full.rss.1,
        (bare.rss.1 - bare.rss.0) / streams as f64
    );
}

fn soak(hours: u64) {
    use std::sync::{Arc, Mutex};

    let pcm = demo_pcm();
    let one_second = RATE as usize * 2;
    let total_seconds = hours * 3600;

    // Returns the last result's probabilities and the RSS after `rss_at` s of audio.
    let run = |seconds: u64, offset: usize, rss_at: u64| -> (Vec<f64>, f64, f64) {
        let p = gst::parse::launch(
            "appsrc name=src format=time block=true max-bytes=320000 \
             caps=audio/x-raw,format=S16LE,rate=16000,channels=1,layout=interleaved ! \
             emotiondetect adapt-to-speaker=false ! fakesink",
        )
        .unwrap();
        let last = Arc::new(Mutex::new(Vec::new()));
        let bus = p.bus().unwrap();
        let sink_last = Arc::clone(&last);
        bus.set_sync_handler(move |_, msg| {
            if let gst::MessageView::Element(e) = msg.view() {
                if let Some(s) = e.structure().filter(|s| s.name() == "emotion") {
                    let probs = s.get::<gst::Array>("probabilities").unwrap();
                    *sink_last.lock().unwrap() =
                        probs.iter().map(|v| v.get::<f64>().unwrap()).collect();
                }
            }
            gst::BusSyncReply::Pass
        });
        let src = p
            .downcast_ref::<gst::Bin>()
            .unwrap()
            .by_name("src")
            .unwrap();
        let src = src.downcast::<gst_app::AppSrc>().unwrap();
        p.set_state(gst::State::Playing).unwrap();
        let mut rss_early = 0.0;
        for k in 0..seconds {
            let chunk = looped(&pcm, offset + k as usize * one_second, one_second);
            let mut buf = gst::Buffer::from_mut_slice(chunk);
            {
                let b = buf.get_mut().unwrap();
                b.set_pts(gst::ClockTime::from_seconds(k));
                b.set_duration(gst::ClockTime::SECOND);
            }
            src.push_buffer(buf).unwrap();
            if k == rss_at {
                rss_early = rss_mib();
            }
            // Keep the bus from growing: results are read by the sync handler.
            while bus.pop().is_some() {}
        }
        src.end_of_stream().unwrap();
        for msg in bus.iter_timed(gst::ClockTime::NONE) {
            match msg.view() {
                gst::MessageView::Eos(_) => break,
                gst::MessageView::Error(e) => panic!("{} {:?}", e.error(), e.debug()),
                _ => {}
            }
        }
        let rss_end = rss_mib();
        p.set_state(gst::State::Null).unwrap();
        let last = last.lock().unwrap().clone();
        (last, rss_early, rss_end)
    };

    let cpu = cpu_seconds();
    let wall = Instant::now();
    let (last, rss_minute, rss_end) = run(total_seconds, 0, 60);
    let (cpu, wall) = (cpu_seconds() - cpu, wall.elapsed().as_secs_f64());
    // The last full window starts 3 s before the end; feed only its audio.
    let offset = (total_seconds as usize - 3) * one_second;
    let (fresh, _, _) = run(3, offset, u64::MAX);
    let diff = last
        .iter()
        .zip(&fresh)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    println!("soak: {hours} h of speech through one pipeline, CPU {cpu:.1} s, wall {wall:.1} s");
    println!("  RSS after the first minute {rss_minute:.2} MiB, at the end {rss_end:.2} MiB ({:+.2} MiB)", rss_end - rss_minute);
    println!("  last window vs a fresh run of its audio: max |difference| {diff:.2e}");
}

struct LiveRun {
    cpu: f64,
    /// How long each buffer was held, and each buffer carrying a result.
    held: Vec<u64>,
    results: Vec<u64>,
    batches: (BatchStats, BatchStats),
}

/// `streams` live pipelines through `element` (named `d`) for `seconds`:
/// `appsrc is-live=true` fed the demo speech in real time, `buffer_ms` per
/// buffer, each stream from its own offset into the speech.
fn run_live(
    streams: usize,
    seconds: u64,
    buffer_ms: u64,
    aligned: bool,
    element: &str,
    model: Option<&str>,
) -> LiveRun {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    use std::sync::{Arc, Mutex, OnceLock};
    type Times = Arc<Mutex<(Vec<u64>, Vec<u64>)>>;
    let times: Times = Arc::new(Mutex::new((Vec::new(), Vec::new())));
    let streams = streams.max(1);
    // Calls start at different moments, so their windows end at different
    // moments of each second: starts are spread over one second, unless
    // `aligned`, where every stream's windows end together.
    let stagger = if aligned {
        0
    } else {
        1_000_000_000 / streams as u64
    };
    // When feeding starts: stream i's buffer with timestamp t is due, in real
    // time, at begin + i * stagger + t.
    let begin: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let mut sources = Vec::with_capacity(streams);
    let pipelines: Vec<gst::Element> = (0..streams)
        .map(|i| {
            let p = gst::parse::launch(&format!(
                "appsrc name=src is-live=true format=time \
                     caps=audio/x-raw,rate=16000,channels=1,format=S16LE,layout=interleaved ! \
                     {element} name=d ! fakesink sync=false"
            ))
            .unwrap();
            let bin = p.downcast_ref::<gst::Bin>().unwrap();
            sources.push(
                bin.by_name("src")
                    .unwrap()
                    .downcast::<gst_app::AppSrc>()
                    .unwrap(),
            );
            let d = bin.by_name("d").unwrap();
            let entered = Arc::new(Mutex::new(std::collections::VecDeque::<Instant>::new()));
            let e = Arc::clone(&entered);
            d.static_pad("sink")
                .unwrap()
                .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                    e.lock().unwrap().push_back(Instant::now());
                    gst::PadProbeReturn::Ok
                });
            let t = Arc::clone(&times);
            let begin = Arc::clone(&begin);
            let offset = std::time::Duration::from_nanos(i as u64 * stagger);
            d.static_pad("src")
                .unwrap()
                .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                    let Some(start) = entered.lock().unwrap().pop_front() else {
                        return gst::PadProbeReturn::Ok;
                    };
                    let held = start.elapsed().as_nanos() as u64;
                    // A buffer carrying a result completed its window: from
                    // the moment the window's last sample was due in real
                    // time (feeding and queueing included) to now.
                    let latency = info.buffer().and_then(|b| {
                        gst::meta::CustomMeta::from_buffer(b, "EmotionMeta").ok()?;
                        let end =
                            std::time::Duration::from_nanos((b.pts()? + b.duration()?).nseconds());
                        let due = *begin.get()? + offset + end;
                        Some(Instant::now().saturating_duration_since(due).as_nanos() as u64)
                    });
                    let mut t = t.lock().unwrap();
                    t.0.push(held);
                    if let Some(latency) = latency {
                        t.1.push(latency);
                    }
                    gst::PadProbeReturn::Ok
                });
            p
        })
        .collect();
    for p in &pipelines {
        p.set_state(gst::State::Playing).unwrap();
    }
    let pcm = demo_pcm();
    let chunk = (RATE as u64 * 2 * buffer_ms / 1000) as usize;
    let cpu = cpu_seconds();
    // One thread feeds every source in real time, earliest due buffer first:
    // a buffer is due when its last sample has been captured, and is
    // timestamped by its samples (as a capture device would), so a late push
    // shows as latency, never as a gap in the stream.
    let feed_begin = Arc::clone(&begin);
    let feeder = std::thread::spawn(move || {
        let begin = *feed_begin.get_or_init(Instant::now);
        let end = seconds * 1_000_000_000;
        let mut pushed = vec![0u64; streams];
        let mut due: BinaryHeap<Reverse<(u64, usize)>> = (0..streams)
            .map(|i| Reverse((i as u64 * stagger + buffer_ms * 1_000_000, i)))
            .collect();
        // Each stream from its own point in the speech, 7 s apart.
        let start = |i: usize| i * 7 * RATE as usize * 2;
        while let Some(Reverse((at, i))) = due.pop() {
            if at >= end {
                break;
            }
            let pts = pushed[i] * buffer_ms * 1_000_000;
            let bytes = looped(&pcm, start(i) + pushed[i] as usize * chunk, chunk);
            pushed[i] += 1;
            let now = begin.elapsed().as_nanos() as u64;
            if at > now {
                std::thread::sleep(std::time::Duration::from_nanos(at - now));
            }
            let mut buf = gst::Buffer::from_mut_slice(bytes);
            {
                let b = buf.get_mut().unwrap();
                b.set_pts(gst::ClockTime::from_nseconds(pts));
                b.set_duration(gst::ClockTime::from_mseconds(buffer_ms));
            }
            // A source that refuses (its pipeline failed) is fed no more.
            if let Err(e) = sources[i].push_buffer(buf) {
                eprintln!("live: stream {i} refused a buffer ({e:?}); no longer fed");
                continue;
            }
            due.push(Reverse((at + buffer_ms * 1_000_000, i)));
        }
    });
    let stats = || batch_stats(element.starts_with("emotiondetect"), model);
    std::thread::sleep(std::time::Duration::from_secs(1));
    let batches_before = stats();
    std::thread::sleep(std::time::Duration::from_secs(seconds.saturating_sub(1)));
    let batches = (batches_before, stats());
    feeder.join().unwrap();
    for p in &pipelines {
        p.set_state(gst::State::Null).unwrap();
    }
    let cpu = cpu_seconds() - cpu;
    let (held, results) = std::mem::take(&mut *times.lock().unwrap());
    LiveRun {
        cpu,
        held,
        results,
        batches,
    }
}

/// Live sources: how long the element holds each buffer (sink pad to src
/// pad), and for buffers that complete a window, which is when the result
/// is posted, the result latency; the CPU of the same pipelines with
/// `identity` in place of the element first.
fn live(streams: usize, seconds: u64, buffer_ms: u64, aligned: bool, model: Option<&str>) {
    let bare = run_live(streams, seconds, buffer_ms, aligned, "identity", None);
    let element = match model {
        Some(m) => format!("emotiondetect model-file=\"{m}\""),
        None => "emotiondetect".to_owned(),
    };
    let LiveRun {
        cpu,
        mut held,
        mut results,
        batches,
    } = run_live(streams, seconds, buffer_ms, aligned, &element, model);
    let pct = |v: &mut Vec<u64>, q: f64| -> f64 {
        v.sort_unstable();
        v.get(((v.len() as f64 - 1.0) * q) as usize)
            .map_or(f64::NAN, |&ns| ns as f64 / 1e6)
    };
    println!(
        "live: {streams} live streams of speech for {seconds} s ({buffer_ms} ms buffers, {}; model {}), \
         CPU {cpu:.1} s; with identity instead of the element {:.1} s",
        if aligned {
            "all started at once"
        } else {
            "starts spread over 1 s"
        },
        model.unwrap_or("built-in"),
        bare.cpu
    );
    print_batches(batches.0, batches.1);
    println!(
        "  buffer held by the element: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} buffers)",
        pct(&mut held, 0.5),
        pct(&mut held, 0.99),
        pct(&mut held, 1.0),
        held.len()
    );
    println!(
        "  result latency (the window's last sample due in real time -> result leaves the element): \
         p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} results)",
        pct(&mut results, 0.5),
        pct(&mut results, 0.99),
        pct(&mut results, 1.0),
        results.len()
    );
}

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

fn main() {
    // `cargo test --all-targets` runs benches with no arguments but `--bench`
    // absent; do nothing then.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    gst::init().unwrap();
    gstemotiondetect::plugin_register_static().unwrap();
    let which: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| {
            [
                "single",
                "many",
                "soak",
                "versus-python",
                "live",
                "pauses",
                "files",
            ]
            .contains(a)
        })
        .collect();
    let model = args
        .iter()
        .position(|a| a == "--model-file")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str);
    if which.contains(&"files") {
        files(
            arg(&args, "--files", 200) as usize,
            arg(&args, "--file-seconds", 3),
            model,
        );
    }
    if which.contains(&"live") {
        live(
            arg(&args, "--streams", 1) as usize,
            arg(&args, "--seconds", 10),
            arg(&args, "--buffer-ms", 20),
            args.iter().any(|a| a == "--aligned"),
            model,
        );
    }
    if which.contains(&"versus-python") {
        versus_python(
            arg(&args, "--minutes", 60),
            arg(&args, "--runs", 5) as usize,
        );
    }
    if which.contains(&"soak") {
        soak(arg(&args, "--hours", 24));
    }
    if which.contains(&"pauses") {
        pauses(
            arg(&args, "--minutes", 20),
            arg(&args, "--runs", 3) as usize,
        );
    }
    if which.is_empty() || which.contains(&"single") {
        single(
            arg(&args, "--minutes", 60),
            arg(&args, "--runs", 5) as usize,
            model,
            arg(&args, "--rate", RATE as u64) as u32,
        );
    }
    if which.is_empty() || which.contains(&"many") {
        many(
            arg(&args, "--streams", 100) as usize,
            arg(&args, "--seconds", 30),
            model,
        );
    }
}
