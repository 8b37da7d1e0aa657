//! The option table written out: as `--help` (and the man page) show it,
//! and as the tables of docs/options.md (kept equal by a test).

use super::table::{DefaultValue, OPTIONS};
use super::IGNORED;

/// Width of `--help`'s lines, and where an option's text starts.
const WIDTH: usize = 79;
const TEXT_COLUMN: usize = 24;

/// What `--help` prints after the flags: every option, then fstab,
/// unmounting and exit statuses.
pub(crate) fn help() -> String {
    let mut out = String::from("Mount options (-o, comma-separated; later ones win):\n");
    for o in OPTIONS {
        let mut text = o.help.to_string();
        match &o.default {
            DefaultValue::Is(values, note) => {
                text += &format!(" [{}", values.join(", "));
                if !note.is_empty() {
                    text += &format!("; {note}");
                }
                text += "]";
            }
            DefaultValue::Says("") => {}
            DefaultValue::Says(said) => text += &format!(" [{said}]"),
        }
        let head = format!("  {}", o.spell);
        let lines = wrap(&text, WIDTH - TEXT_COLUMN);
        let mut lines = lines.iter();
        if head.len() < TEXT_COLUMN {
            let first = lines.next().map(String::as_str).unwrap_or("");
            out += &format!("{head:TEXT_COLUMN$}{first}\n");
        } else {
            out += &format!("{head}\n");
        }
        for line in lines {
            out += &format!("{:TEXT_COLUMN$}{line}\n", "");
        }
    }
    let ignored = format!(
        "Accepted and ignored, as mount(8) has used them: {}, x-*",
        IGNORED.join(", ")
    );
    for line in wrap(&ignored, WIDTH - 2) {
        out += &format!("  {line}\n");
    }
    out + TRAILER
}

const TRAILER: &str = "
fstab:   HOST:564:/export  /mnt/9p  ninep  nosuid,nodev,_netdev  0 0
         (type ninep needs /sbin/mount.ninep: scripts/install.sh; without
         it, type fuse.ninep-mount works through mount.fuse3)
Unmount: fusermount3 -u MOUNTPOINT (or umount MOUNTPOINT as root)
Exit status: 0 mounted (or unmounted cleanly), 1 usage error, 32 mount failure.";

/// `text` in lines of at most `width` characters, broken at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![];
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line += word;
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// docs/options.md's tables, which a test keeps equal to the table.
#[cfg(test)]
mod markdown {
    use super::super::table::{DefaultValue, Opt, Section, OPTIONS};

    /// The line before a made table: `which` is a docs/options.md
    /// section's marker, or `brief` for the README's.
    fn begin(which: &str) -> String {
        format!("<!-- options: {which} (made from cli/src/options/table.rs) -->")
    }

    const END: &str = "<!-- end of options -->";

    /// docs/options.md as it should be: `current` with each section's table
    /// made again from the option table. `None` if a section's markers are
    /// missing.
    pub(super) fn docs(current: &str) -> Option<String> {
        let mut out = current.to_string();
        for section in Section::ALL {
            let rows = OPTIONS.iter().filter(|o| o.section == section);
            out = replace(&out, section.marker(), &table(rows, |o| o.docs))?;
        }
        Some(out)
    }

    /// README.md as it should be: its "Options in brief" made again from
    /// the rows marked `brief`, with their `--help` text.
    pub(super) fn readme(current: &str) -> Option<String> {
        let rows = OPTIONS.iter().filter(|o| o.brief);
        replace(current, "brief", &table(rows, |o| o.help))
    }

    /// `current` with the table after `which`'s marker replaced.
    fn replace(current: &str, which: &str, table: &str) -> Option<String> {
        let begin = begin(which);
        let start = current.find(&begin)? + begin.len();
        let end = start + current[start..].find(END)?;
        let mut out = current.to_string();
        out.replace_range(start..end, &format!("\n{table}"));
        Some(out)
    }

    /// A markdown table of `rows`, with `text` as the last column.
    fn table<'a>(rows: impl Iterator<Item = &'a Opt>, text: fn(&Opt) -> &str) -> String {
        let mut out = String::from("| option | default | what it does |\n|---|---|---|\n");
        for o in rows {
            let spell: Vec<String> = o
                .spell
                .split(", ")
                .map(|part| format!("`{}`", part.replace('|', "\\|")))
                .collect();
            let default = match &o.default {
                DefaultValue::Is(values, note) => {
                    let values: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
                    match note.is_empty() {
                        true => values.join(", "),
                        false => format!("{} ({note})", values.join(", ")),
                    }
                }
                DefaultValue::Says("") => "-".to_string(),
                DefaultValue::Says(said) => said.to_string(),
            };
            let text = text(o).replace('|', "\\|");
            out += &format!("| {} | {default} | {text} |\n", spell.join(", "));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::markdown;
    use super::*;

    #[test]
    fn help_lines_fit_and_name_every_default() {
        let help = help();
        for line in help.lines() {
            assert!(line.chars().count() <= WIDTH, "too long: {line}");
        }
        assert!(help.contains(
            "  msize=N               largest message to ask for [1048600; 1 MiB + 24]\n"
        ));
        assert!(help.contains("\n  reconnect[=SECONDS], noreconnect\n                        when"));
        assert!(help.contains("nofail, async, x-*\n"));
    }

    /// docs/options.md's tables and the README's "Options in brief" are
    /// what the option table makes; with `NINEP_WRITE_DOCS=1` this test
    /// writes them instead.
    #[test]
    fn docs_options_md_is_made_from_the_table() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        type Make = fn(&str) -> Option<String>;
        let made_by: [(&str, Make); 2] = [
            ("docs/options.md", markdown::docs),
            ("README.md", markdown::readme),
        ];
        for (file, make) in made_by {
            let path = format!("{root}/{file}");
            let current = std::fs::read_to_string(&path).expect(file);
            let made = make(&current).unwrap_or_else(|| panic!("the table markers in {file}"));
            if std::env::var_os("NINEP_WRITE_DOCS").is_some() {
                std::fs::write(&path, &made).expect(file);
                continue;
            }
            assert!(
                made == current,
                "{file} differs from cli/src/options/table.rs: run \
                 `NINEP_WRITE_DOCS=1 cargo test -p ninep-mount docs_options_md` \
                 and commit the result"
            );
        }
    }

    #[test]
    fn wraps_at_spaces() {
        assert_eq!(wrap("a bb ccc dd", 6), ["a bb", "ccc dd"]);
        assert_eq!(wrap("", 6), Vec::<String>::new());
        assert_eq!(wrap("toolongword x", 4), ["toolongword", "x"]);
    }
}
