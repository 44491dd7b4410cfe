//! File upload and download throughput, against this machine's raw copy speed measured in
//! the same run: `std::fs::copy` of the same file in the same file system as Huddle's files
//! directory (neither syncs to the disk, so both run at the page cache's speed when it has room,
//! and at the disk's when it has not).
use std::time::Instant;

use rand::RngCore;
use serde_json::{json, Value};

use crate::scenarios::Run;
use crate::Result;

pub struct FilesOptions {
    /// The file's size, in MiB.
    pub mib: usize,
    /// Uploads, downloads and copies measured (after one of each to warm up).
    pub rounds: usize,
}

fn mib_per_s(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / seconds.max(1e-9)
}

/// The raw copy speed: the file written once, then copied `rounds` times.
fn raw_copy(data: &[u8], rounds: usize) -> Result<f64> {
    let dir = tempfile::tempdir_in(std::env::temp_dir())?;
    let source = dir.path().join("source");
    std::fs::write(&source, data)?;
    std::fs::copy(&source, dir.path().join("warm"))?;
    let started = Instant::now();
    for i in 0..rounds {
        std::fs::copy(&source, dir.path().join(format!("copy-{i}")))?;
    }
    Ok(mib_per_s(
        (data.len() * rounds) as u64,
        started.elapsed().as_secs_f64(),
    ))
}

async fn upload(run: &Run, token: &str, room: i64, data: &[u8], n: usize) -> Result<Value> {
    let part = reqwest::multipart::Part::bytes(data.to_vec())
        .file_name(format!("bench-{n}.bin"))
        .mime_str("application/octet-stream")?;
    let form = reqwest::multipart::Form::new().part("file", part);
    let resp = run
        .api
        .client
        .post(format!("{}/api/v1/rooms/{room}/files", run.api.base))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await?;
    let status = resp.status();
    let v: Value = resp.json().await?;
    if status.as_u16() != 201 || v["attachments"][0]["size"].as_u64() != Some(data.len() as u64) {
        return Err(format!("upload answered {status}: {v}").into());
    }
    Ok(v)
}

/// Reads the whole body, counting (and checking the size of) what arrives.
async fn download(run: &Run, url: &str, want: usize) -> Result<()> {
    let mut resp = run
        .api
        .client
        .get(format!("{}{url}", run.api.base))
        .send()
        .await?;
    if !resp.status().is_success() {
        return Err(format!("download answered {}", resp.status()).into());
    }
    let mut got = 0usize;
    while let Some(chunk) = resp.chunk().await? {
        got += chunk.len();
    }
    if got != want {
        return Err(format!("downloaded {got} bytes of {want}").into());
    }
    Ok(())
}

/// Uploads and downloads one file at a time, each `rounds` times after a warm-up.
pub async fn run(run: &mut Run, o: &FilesOptions) -> Result<()> {
    println!(
        "\n== files: {} MiB, {} uploads and downloads one at a time, against the raw copy ==",
        o.mib, o.rounds
    );
    let mut data = vec![0u8; o.mib * 1024 * 1024];
    rand::rng().fill_bytes(&mut data);
    let copy = {
        let d = data.clone();
        let rounds = o.rounds;
        tokio::task::spawn_blocking(move || raw_copy(&d, rounds)).await??
    };
    let owner = run.users(1).await?.pop().ok_or("no user")?;
    let room = run.api.create_room(&owner, "files").await?;

    let first = upload(run, &owner.token, room, &data, 0).await?;
    let started = Instant::now();
    for n in 1..=o.rounds {
        upload(run, &owner.token, room, &data, n).await?;
    }
    let up = mib_per_s(
        (data.len() * o.rounds) as u64,
        started.elapsed().as_secs_f64(),
    );

    let url = first["attachments"][0]["url"]
        .as_str()
        .ok_or("no url")?
        .to_owned();
    download(run, &url, data.len()).await?;
    let started = Instant::now();
    for _ in 0..o.rounds {
        download(run, &url, data.len()).await?;
    }
    let down = mib_per_s(
        (data.len() * o.rounds) as u64,
        started.elapsed().as_secs_f64(),
    );

    let (up_ratio, down_ratio) = (up / copy, down / copy);
    println!(
        "files: raw copy {copy:.0} MiB/s; upload {up:.0} MiB/s ({up_ratio:.2}x), download {down:.0} MiB/s ({down_ratio:.2}x) (target at least 0.5x each)"
    );
    let met = up_ratio >= 0.5 && down_ratio >= 0.5;
    run.record(
        "files",
        json!({
            "file_mib": o.mib,
            "rounds": o.rounds,
            "raw_copy_mib_per_s": copy,
            "upload_mib_per_s": up,
            "download_mib_per_s": down,
            "upload_ratio": up_ratio,
            "download_ratio": down_ratio,
            "met": met,
        }),
    );
    Ok(())
}
