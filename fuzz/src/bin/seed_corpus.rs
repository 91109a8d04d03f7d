//! `seed-corpus DIR`: writes every target's seeds into `DIR/<target>/` (the long run's starting corpora).

fn main() -> std::io::Result<()> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "corpus".into()));
    for target in potok_fuzz::TARGETS {
        let out = dir.join(target.name);
        std::fs::create_dir_all(&out)?;
        for (i, seed) in (target.seeds)().iter().enumerate() {
            std::fs::write(out.join(format!("seed-{i:04}")), seed)?;
        }
    }
    Ok(())
}
