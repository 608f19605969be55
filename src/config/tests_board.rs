//! board.toml: a valid definition loads, and each mistake a board author makes is an
//! error that names the line.

use super::board::{parse, LedRole, PortKind};
use std::path::Path;

const GOOD: &str = r#"
[board]
name = "ls-2s1o"
description = "2 FXS + 1 FXO"

[uart]
device = "/dev/ttyS1"
baud = 115200

[[port]]
name = "fxs1"
kind = "fxs"
line = 0
alsa-device = "hw:0,0"
alsa-channel = 0
alsa-channels = 4

[[port]]
name = "fxs2"
kind = "fxs"
line = 1
alsa-device = "hw:0,0"
alsa-channel = 1
alsa-channels = 4

[[port]]
name = "fxo1"
kind = "fxo"
line = 2
alsa-device = "hw:0,0"
alsa-channel = 2
alsa-channels = 4

[[led]]
role = "power"
gpio = "gpiochip0:17"

[[led]]
role = "port:fxo1"
gpio = "gpiochip0:18"
active-low = true

[reset-button]
gpio = "gpiochip1:4"
active-low = true
factory-reset-hold-sec = 8
"#;

fn errors_of(text: &str) -> Vec<String> {
    match parse(Path::new("board.toml"), text) {
        Ok(b) => panic!("expected errors, loaded {b:?}"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn the_reference_box_loads() {
    let b = parse(Path::new("board.toml"), GOOD).unwrap();
    assert_eq!(b.name, "ls-2s1o");
    assert_eq!(b.uart.as_ref().map(|u| u.baud), Some(115_200));
    let kinds: Vec<_> = b
        .ports
        .iter()
        .map(|p| (p.name.as_str(), p.kind, p.alsa.channel))
        .collect();
    assert_eq!(
        kinds,
        [
            ("fxs1", PortKind::Fxs, 0),
            ("fxs2", PortKind::Fxs, 1),
            ("fxo1", PortKind::Fxo, 2)
        ]
    );
    assert_eq!(b.leds[1].role, LedRole::Port("fxo1".into()));
    assert!(b.leds[1].gpio.active_low);
    let button = b.reset_button.as_ref().unwrap();
    assert_eq!(
        (button.gpio.chip.as_str(), button.gpio.line),
        ("gpiochip1", 4)
    );
    assert_eq!(button.factory_reset_hold_sec, 8);
    let summary = b.summary();
    assert!(
        summary.contains("port fxo1 (FXO, line 2): voice hw:0,0 channel 2 of 4"),
        "{summary}"
    );
}

#[test]
fn the_board_files_in_the_repository_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("board");
    let mut seen = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let file = entry.unwrap().path().join("board.toml");
        if file.exists() {
            let text = std::fs::read_to_string(&file).unwrap();
            let board = parse(&file, &text).unwrap_or_else(|e| panic!("{e}"));
            assert!(!board.ports.is_empty(), "{}: no ports", file.display());
            seen += 1;
        }
    }
    assert!(
        seen >= 3,
        "expected the two QEMU boards and a reference box, found {seen}"
    );
}

#[test]
fn a_misspelt_key_is_an_error_with_its_line() {
    let text = GOOD.replace("alsa-channel = 1\n", "alsa-chanel = 1\n");
    let errors = errors_of(&text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("board.toml:23: error:"), "{errors:?}");
    assert!(errors[0].contains("alsa-chanel"), "{errors:?}");
}

#[test]
fn a_wrong_port_kind_lists_the_allowed_ones() {
    let text = GOOD.replace("kind = \"fxo\"", "kind = \"isdn\"");
    let errors = errors_of(&text);
    assert!(errors[0].starts_with("board.toml:"), "{errors:?}");
    assert!(
        errors[0].contains("fxs") && errors[0].contains("fxo"),
        "{errors:?}"
    );
}

#[test]
fn two_ports_on_one_channel_are_refused() {
    let text = GOOD.replace("alsa-channel = 2", "alsa-channel = 1");
    let errors = errors_of(&text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with(
            "board.toml:31: error: port fxo1: hw:0,0 channel 1 already carries port fxs2"
        ),
        "{errors:?}"
    );
}

#[test]
fn a_channel_outside_the_device_is_refused() {
    let text = GOOD.replace(
        "alsa-channel = 2\nalsa-channels = 4",
        "alsa-channel = 4\nalsa-channels = 4",
    );
    let errors = errors_of(&text);
    assert!(
        errors[0].contains("alsa-channel 4 does not exist in a 4-channel device"),
        "{errors:?}"
    );
}

#[test]
fn line_numbers_and_uart_speed_are_checked() {
    let text = GOOD
        .replace("line = 2", "line = 0")
        .replace("baud = 115200", "baud = 115201");
    let errors = errors_of(&text).join("\n");
    assert!(
        errors.contains("board.toml:8: error: uart baud 115201: not a standard serial speed"),
        "{errors}"
    );
    assert!(
        errors.contains("port fxo1: line 0 is already used by another port"),
        "{errors}"
    );
}

#[test]
fn ports_without_a_uart_are_refused() {
    let text = GOOD.replace("[uart]\ndevice = \"/dev/ttyS1\"\nbaud = 115200\n", "");
    let errors = errors_of(&text);
    assert!(
        errors[0].contains("ports need a [uart] section"),
        "{errors:?}"
    );
}

#[test]
fn leds_and_button_are_checked() {
    let text = GOOD
        .replace("role = \"port:fxo1\"", "role = \"port:fxo9\"")
        .replace("gpio = \"gpiochip1:4\"", "gpio = \"gpiochip0:17\"")
        .replace("factory-reset-hold-sec = 8", "factory-reset-hold-sec = 0");
    let errors = errors_of(&text).join("\n");
    assert!(
        errors.contains("led role port:fxo9: no port named fxo9"),
        "{errors}"
    );
    assert!(
        errors.contains("gpio gpiochip0:17 is used twice"),
        "{errors}"
    );
    assert!(
        errors.contains("factory-reset-hold-sec 0: expected 1 to 60 seconds"),
        "{errors}"
    );
    let bad_gpio = GOOD.replace("gpio = \"gpiochip0:18\"", "gpio = \"18\"");
    assert!(errors_of(&bad_gpio)[0].contains("expected CHIP:LINE"));
}

#[test]
fn a_toml_syntax_error_names_the_line() {
    let text = GOOD.replace("baud = 115200", "baud = = 115200");
    let errors = errors_of(&text);
    assert!(errors[0].starts_with("board.toml:8: error:"), "{errors:?}");
}
