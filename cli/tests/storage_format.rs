//! `potok storage format` for Kafka's dynamic controller quorum (KIP-853): `--initial-controllers` and
//! `--standalone` write the voter set into the controller's metadata directory (Kafka's bootstrap checkpoint,
//! which `potok broker` starts the quorum from) and give that directory the id its voter entry names; Kafka's
//! refusals are kept.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

const CLUSTER_ID: &str = "MkU3OEVBNTcwNTJENDM2Qk";
const IDS: [&str; 3] = ["AAAAAAAAAAAAAAAAAAAAAQ", "AAAAAAAAAAAAAAAAAAAAAg", "AAAAAAAAAAAAAAAAAAAAAw"];

fn config(dir: &Path, node: i32, extra: &str) -> std::path::PathBuf {
    let file = dir.join(format!("server-{node}.properties"));
    let text = format!(
        "process.roles=broker,controller\nnode.id={node}\nlisteners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093\n\
         controller.listener.names=CONTROLLER\nlog.dirs={}\n{extra}",
        dir.join(format!("logs-{node}")).display()
    );
    std::fs::write(&file, text).unwrap();
    file
}

fn format(file: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_potok"))
        .args(["storage", "format", "-t", CLUSTER_ID, "-c"])
        .arg(file)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn initial_controllers_are_written_where_the_quorum_starts_from() {
    let tmp = tempfile::tempdir().unwrap();
    let list: Vec<String> = (0..3).map(|i| format!("{}@127.0.0.1:{}:{}", i + 1, 19093 + i, IDS[i])).collect();
    let file = config(tmp.path(), 2, "controller.quorum.bootstrap.servers=127.0.0.1:19093,127.0.0.1:19094\n");
    let out = format(&file, &["--initial-controllers", &list.join(",")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Formatting dynamic metadata voter directory"));
    let dir = tmp.path().join("logs-2");
    let meta = std::fs::read_to_string(dir.join("meta.properties")).unwrap();
    assert!(meta.contains(&format!("directory.id={}", IDS[1])), "{meta}");
    assert!(meta.contains(&format!("cluster.id={CLUSTER_ID}")), "{meta}");
    let voters = potok::controller::read_bootstrap_voters(&dir).unwrap().unwrap();
    let read: Vec<(i32, String, String, u16)> = voters
        .iter()
        .map(|v| (v.id, potok::controller::uuid_to_base64(&v.directory_id), v.listener.clone(), v.port))
        .collect();
    let expected: Vec<(i32, String, String, u16)> =
        (0..3).map(|i| (i as i32 + 1, IDS[i].to_string(), "CONTROLLER".to_string(), 19093 + i as u16)).collect();
    assert_eq!(read, expected);
}

#[test]
fn standalone_makes_this_controller_the_only_voter() {
    let tmp = tempfile::tempdir().unwrap();
    let file = config(tmp.path(), 1, "controller.quorum.bootstrap.servers=127.0.0.1:9093\n");
    let out = format(&file, &["--standalone"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dir = tmp.path().join("logs-1");
    let voters = potok::controller::read_bootstrap_voters(&dir).unwrap().unwrap();
    assert_eq!(voters.len(), 1);
    assert_eq!((voters[0].id, voters[0].host.as_str(), voters[0].port), (1, "127.0.0.1", 9093));
    let meta = std::fs::read_to_string(dir.join("meta.properties")).unwrap();
    let id = potok::controller::uuid_to_base64(&voters[0].directory_id);
    assert!(meta.contains(&format!("directory.id={id}")), "{meta}");
}

#[test]
fn kafkas_refusals_are_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let stderr = |out: Output| {
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // A static quorum's node is not formatted as a dynamic one.
    let file = config(tmp.path(), 1, "controller.quorum.voters=1@127.0.0.1:9093\n");
    assert!(stderr(format(&file, &["--standalone"])).contains("controller.quorum.voters"));
    // The initial controllers must name this controller, and each entry needs its directory id.
    let file = config(tmp.path(), 3, "controller.quorum.bootstrap.servers=127.0.0.1:9093\n");
    let two = format!("1@127.0.0.1:9093:{},2@127.0.0.1:9094:{}", IDS[0], IDS[1]);
    assert!(stderr(format(&file, &["--initial-controllers", &two])).contains("does not name this controller"));
    assert!(stderr(format(&file, &["-I", "3@127.0.0.1:9093"])).contains("id@host:port:directory-id"));
    assert!(stderr(format(&file, &["-I", "3@127.0.0.1:9093:nope"])).contains("not a directory id"));
    assert!(!tmp.path().join("logs-3").join("meta.properties").exists(), "a refused format writes nothing");
}
