//! The bundled `target/bundled/Kindred.clap` in a real CLAP host built on clack-host: loaded
//! from disk, activated at 44.1 kHz and 96 kHz with odd, variable block sizes, several seconds
//! of generated music processed on an audio thread; checks bit-exact passthrough, that a
//! parameter event is applied, that the state round-trips into a fresh instance, and that the
//! analysis works: a host sees no GUI, so the test reads the plugin's log (nice-plug's
//! `NICE_LOG`), where the worker writes its first analysed window and the first one compared
//! with each reference.
//!
//! Build the bundle first: `cargo xtask bundle kindred --release` (`cargo xtask test` does).

use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use clack_extensions::params::{ParamInfoBuffer, PluginParams};
use clack_extensions::state::PluginState;
use clack_host::events::event_types::ParamValueEvent;
use clack_host::prelude::*;

const PLUGIN_ID: &CStr = c"org.kindred.kindred";

struct Shared;
impl SharedHandler<'_> for Shared {
    fn request_restart(&self) {}
    fn request_process(&self) {}
    fn request_callback(&self) {}
}

struct TestHost;
impl HostHandlers for TestHost {
    type Shared<'a> = Shared;
    type MainThread<'a> = ();
    type AudioProcessor<'a> = ();
}

fn bundle() -> PathBuf {
    let path = kindred_host_tests::bundled("Kindred.clap");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo xtask bundle kindred --release` first",
        path.display()
    );
    path
}

/// The plugin's log file for this test process, set before the plugin is first loaded (its
/// logger is set up once, when its entry initialises).
fn log_file() -> &'static Path {
    static LOG: OnceLock<PathBuf> = OnceLock::new();
    LOG.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("kindred-clap-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&path);
        // SAFETY: runs once, before any plugin code that reads the environment is loaded;
        // the test threads themselves read no environment variables.
        unsafe { std::env::set_var("NICE_LOG", &path) };
        path
    })
}

fn load() -> PluginEntry {
    log_file();
    let path = bundle();
    // SAFETY: loading a plugin runs its initialisation code; it is ours.
    unsafe { PluginEntry::load(&path) }.expect("the CLAP entry loads")
}

fn instance(entry: &PluginEntry) -> PluginInstance<TestHost> {
    let info = HostInfo::new(
        "kindred-host-tests",
        "Kindred",
        "https://example.invalid",
        "0.1",
    )
    .unwrap();
    PluginInstance::<TestHost>::new(|_| Shared, |_| (), entry, PLUGIN_ID, &info)
        .expect("the plugin instantiates")
}

/// A chord with a rhythmic click, different per channel.
fn music(rate: f64, frames: usize, channel: usize) -> Vec<f32> {
    (0..frames)
        .map(|i| {
            let t = i as f64 / rate;
            let chord: f64 = [220.0, 277.18, 329.63]
                .iter()
                .map(|f| (std::f64::consts::TAU * f * t).sin())
                .sum::<f64>()
                * 0.12;
            let beat = (t * 2.0).fract();
            let click = (-beat * 60.0).exp() * (std::f64::consts::TAU * 1800.0 * t).sin() * 0.5;
            (chord + click + channel as f64 * 0.01) as f32
        })
        .collect()
}

/// Block sizes 1…8192, odd and changing.
fn blocks(total: usize) -> Vec<usize> {
    let sizes = [1, 31, 64, 257, 8192, 3, 999, 4097, 17, 511, 2048, 7];
    let mut out = Vec::new();
    let mut sum = 0;
    for &s in sizes.iter().cycle() {
        if sum + s > total {
            out.push(total - sum);
            break;
        }
        out.push(s);
        sum += s;
    }
    out.retain(|&n| n > 0);
    out
}

/// The CLAP id of the parameter whose display name is `name`.
fn param_id(plugin: &mut PluginInstance<TestHost>, name: &str) -> ClapId {
    let handle = plugin.plugin_handle();
    let params: PluginParams = handle.get_extension().expect("params extension");
    let mut buffer = ParamInfoBuffer::new();
    (0..params.count(&handle))
        .filter_map(|i| {
            params
                .get_info(&handle, i, &mut buffer)
                .map(|p| (p.id, p.name.to_vec()))
        })
        .find(|(_, n)| String::from_utf8_lossy(n).trim_end_matches('\0') == name)
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("no parameter named {name}"))
}

fn param_value(plugin: &mut PluginInstance<TestHost>, id: ClapId) -> f64 {
    let handle = plugin.plugin_handle();
    let params: PluginParams = handle.get_extension().expect("params extension");
    params.get_value(&handle, id).expect("a value")
}

/// Runs `seconds` of stereo music through the plugin at `rate` (separate input and output
/// buffers, the output filled with NaN first), sending `event` (if any) with the first block;
/// at `speed` times real time when given (the worker analyses what it has time for), else as
/// fast as the plugin takes it. Returns input and output.
fn process(
    plugin: &mut PluginInstance<TestHost>,
    rate: f64,
    seconds: f64,
    event: Option<ParamValueEvent>,
    speed: Option<f64>,
) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let frames = (rate * seconds) as usize;
    let input: Vec<Vec<f32>> = (0..2).map(|c| music(rate, frames, c)).collect();
    let config = PluginAudioConfiguration {
        sample_rate: rate,
        min_frames_count: 1,
        max_frames_count: 8192,
    };
    let processor = plugin.activate(|_, _| (), config).expect("activates");
    let mut output = input.clone();
    let mut input_copy = input.clone();
    let processor = std::thread::scope(|s| {
        s.spawn(|| {
            let mut processor = processor.start_processing().expect("starts processing");
            let mut in_ports = AudioPorts::with_capacity(2, 1);
            let mut out_ports = AudioPorts::with_capacity(2, 1);
            let mut out_events = EventBuffer::new();
            let mut start = 0;
            let began = Instant::now();
            for (n, len) in blocks(frames).into_iter().enumerate() {
                if let Some(speed) = speed {
                    let due = Duration::from_secs_f64(start as f64 / rate / speed);
                    std::thread::sleep(due.saturating_sub(began.elapsed()));
                }
                let events: Vec<ParamValueEvent> = event.filter(|_| n == 0).into_iter().collect();
                let in_events = InputEvents::from_buffer(&events);
                let mut out_ev = OutputEvents::from_buffer(&mut out_events);
                let (o0, o1) = output.split_at_mut(1);
                let (i0, i1) = input_copy.split_at_mut(1);
                let mut ins = [
                    &mut i0[0][start..start + len],
                    &mut i1[0][start..start + len],
                ];
                let mut outs = [
                    &mut o0[0][start..start + len],
                    &mut o1[0][start..start + len],
                ];
                // Garbage in the output buffers: the plugin must replace it with the input.
                outs.iter_mut().for_each(|b| b.fill(f32::NAN));
                let input_audio = in_ports.with_input_buffers([AudioPortBuffer {
                    latency: 0,
                    channels: AudioPortBufferType::f32_input_only(
                        ins.iter_mut().map(InputChannel::variable),
                    ),
                }]);
                let mut output_audio = out_ports.with_output_buffers([AudioPortBuffer {
                    latency: 0,
                    channels: AudioPortBufferType::f32_output_only(
                        outs.iter_mut().map(|b| &mut **b),
                    ),
                }]);
                let status = processor.process(
                    &input_audio,
                    &mut output_audio,
                    &in_events,
                    &mut out_ev,
                    None,
                    None,
                );
                status.expect("process succeeds");
                out_events.clear();
                start += len;
            }
            assert_eq!(start, frames);
            processor.stop_processing()
        })
        .join()
        .expect("the audio thread did not panic")
    });
    plugin.deactivate(processor);
    (input, output)
}

fn assert_bit_exact(input: &[Vec<f32>], output: &[Vec<f32>], what: &str) {
    for (c, (a, b)) in input.iter().zip(output).enumerate() {
        let first_bad = a
            .iter()
            .zip(b)
            .position(|(x, y)| x.to_bits() != y.to_bits());
        assert_eq!(first_bad, None, "{what}: channel {c} differs at that frame");
    }
}

#[test]
fn passthrough_is_bit_exact_at_44k_and_96k() {
    let entry = load();
    let mut plugin = instance(&entry);
    for rate in [44_100.0, 96_000.0] {
        let (input, output) = process(&mut plugin, rate, 4.0, None, None);
        assert_bit_exact(&input, &output, &format!("{rate} Hz"));
    }
}

#[test]
fn parameter_events_apply_and_state_round_trips() {
    let entry = load();
    let mut plugin = instance(&entry);
    let weight = param_id(&mut plugin, "Genre weight");
    let hop = param_id(&mut plugin, "Hop");
    // nice-plug's CLAP values are normalised: a weight is its own normalised value, the hop's
    // default 1 s of 0.25–3 s is 0.75 / 2.75.
    assert_eq!(param_value(&mut plugin, weight), 1.0);
    assert!((param_value(&mut plugin, hop) - 0.75 / 2.75).abs() < 1e-6);

    let event = ParamValueEvent::new(0, weight, Pckn::match_all(), 0.25);
    let (input, output) = process(&mut plugin, 48_000.0, 1.0, Some(event), None);
    assert_bit_exact(&input, &output, "with a parameter change");
    assert!((param_value(&mut plugin, weight) - 0.25).abs() < 1e-6);

    let mut saved = Vec::new();
    {
        let handle = plugin.plugin_handle();
        let state: PluginState = handle.get_extension().expect("state extension");
        state.save(&handle, &mut saved).expect("state saves");
    }
    let text = String::from_utf8_lossy(&saved);
    assert!(
        text.contains("library"),
        "persisted fields are in the state: {text}"
    );

    let mut restored = instance(&entry);
    assert_eq!(param_value(&mut restored, weight), 1.0);
    {
        let handle = restored.plugin_handle();
        let state: PluginState = handle.get_extension().expect("state extension");
        state
            .load(&handle, &mut saved.as_slice())
            .expect("state loads");
    }
    assert!((param_value(&mut restored, weight) - 0.25).abs() < 1e-6);
    // The restored instance still processes (a missing library is not a crash).
    let (input, output) = process(&mut restored, 44_100.0, 0.5, None, None);
    assert_bit_exact(&input, &output, "after restoring the state");
}

/// Lines of the plugin's log that contain `needle`, waiting up to 10 s for one (the log is
/// written by a background thread).
fn log_lines(needle: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(log_file()).unwrap_or_default();
        let lines: Vec<String> = text
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect();
        if !lines.is_empty() || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The number before " %" after `label` in `line`.
fn percent_after(line: &str, label: &str) -> f64 {
    let rest = &line[line
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in {line}"))
        + label.len()..];
    let number: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    number
        .parse()
        .unwrap_or_else(|_| panic!("no number after {label:?} in {line}"))
}

#[test]
fn similarity_to_a_reference_file_reaches_the_host_log() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("clap-test-reference.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 44_100,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut wav = hound::WavWriter::create(&reference, spec).unwrap();
    for x in music(44_100.0, 44_100 * 8, 0) {
        wav.write_sample(x).unwrap();
    }
    wav.finalize().unwrap();

    let entry = load();
    let mut plugin = instance(&entry);
    // Choose the reference as a restored project would: through the persisted field.
    let mut saved = Vec::new();
    {
        let handle = plugin.plugin_handle();
        let state: PluginState = handle.get_extension().expect("state extension");
        state.save(&handle, &mut saved).expect("state saves");
    }
    // nice-plug's CLAP state: the JSON's length (u64, little-endian), then the JSON.
    let mut json: serde_json::Value =
        serde_json::from_slice(&saved[8..]).expect("the state is JSON");
    json["fields"]["reference"] = serde_json::to_string(&reference.display().to_string())
        .unwrap()
        .into();
    let body = serde_json::to_vec(&json).unwrap();
    let mut edited = (body.len() as u64).to_le_bytes().to_vec();
    edited.extend_from_slice(&body);
    {
        let handle = plugin.plugin_handle();
        let state: PluginState = handle.get_extension().expect("state extension");
        state
            .load(&handle, &mut edited.as_slice())
            .expect("state loads");
    }

    // The same music at 48 kHz, twice real time: 3 s to fill the first window, then one
    // window per second of audio.
    let (input, output) = process(&mut plugin, 48_000.0, 12.0, None, Some(2.0));
    assert_bit_exact(&input, &output, "while analysing");

    let lines = log_lines("reference clap-test-reference.wav");
    println!("{}", lines.join("\n"));
    let line = lines
        .first()
        .expect("a window compared with the reference in the log");
    assert!(line.contains("BPM"), "tempo and key in {line}");
    let combined = percent_after(line, "combined");
    assert!(
        combined >= 90.0,
        "the same music scores {combined} % against itself"
    );
    for dimension in ["genre", "mood", "instrument", "era", "tempo", "key"] {
        let score = percent_after(line, &format!("{dimension} "));
        assert!(
            (0.0..=100.0).contains(&score),
            "{dimension}: {score} in {line}"
        );
    }
}
