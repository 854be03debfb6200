//! The `:` palette's line editing: the known commands, Tab completion and
//! the session's command history (↑/↓), as in a shell or vim's `:`.
//!
//! What a command does is decided in `input` (`App::run_command`); this
//! module only knows their names, so the help, the "unknown command"
//! message and completion read one list.

/// The palette's commands: the name and how its argument is written.
/// (`run_command` also takes a few aliases: `q`, `exit`, `dr`, `dash`...)
pub const COMMANDS: &[(&str, &str)] = &[
    ("backup", ""),
    ("restore", " [ID]"),
    ("recover", ""),
    ("drill", ""),
    ("prune", ""),
    ("verify", " [--deep] ID"),
    ("messages", ""),
    ("quit", ""),
    ("dashboard", ""),
    ("catalog", ""),
    ("jobs", ""),
    ("health", ""),
    ("storage", ""),
    ("audit", ""),
    ("help", ""),
];

/// The commands as the help and the error message list them.
pub fn commands_text() -> String {
    COMMANDS
        .iter()
        .map(|(name, args)| format!("{name}{args}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Commands kept in the session's history (the oldest go first).
pub const HISTORY_CAP: usize = 100;

/// The palette's input line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Palette {
    pub text: String,
    /// What the last Tab could complete to (shown after the input, the
    /// one in the line marked); empty when Tab was not the last key.
    pub choices: Vec<String>,
    /// Tab found nothing to complete the word to.
    pub no_match: bool,
    /// Tab again goes on to the next choice: the index of the one shown.
    cycle: Option<usize>,
    /// Where ↑/↓ are in the history, and the line typed before.
    history_at: Option<usize>,
    draft: String,
}

impl Palette {
    /// Any key but Tab ends a completion in progress.
    pub fn edited(&mut self) {
        self.choices.clear();
        self.no_match = false;
        self.cycle = None;
        self.history_at = None;
    }

    /// Tab: complete the word being typed. The first word is a command
    /// name; the argument of `restore` and `verify` a backup id from
    /// `ids`. One candidate completes; several complete as far as they
    /// agree and are listed, and Tab again steps through them.
    pub fn complete(&mut self, ids: &[&str]) {
        if let Some(i) = self.cycle {
            let next = (i + 1) % self.choices.len().max(1);
            if let Some(c) = self.choices.get(next) {
                let c = c.clone();
                self.replace_word(&c);
                self.cycle = Some(next);
            }
            return;
        }
        let (word, takes_id) = match self.text.split_once(char::is_whitespace) {
            None => (self.text.as_str(), false),
            Some((cmd, rest)) if !rest.trim_start().contains(char::is_whitespace) => {
                let cmd = cmd.to_lowercase();
                if cmd != "restore" && cmd != "verify" {
                    return;
                }
                (rest.trim_start(), true)
            }
            Some(_) => return,
        };
        let lower = word.to_lowercase();
        let mut choices: Vec<String> = if takes_id {
            ids.iter()
                .filter(|id| id.to_lowercase().starts_with(&lower))
                .map(|id| id.to_string())
                .collect()
        } else {
            COMMANDS
                .iter()
                .filter(|(name, _)| name.starts_with(&lower))
                .map(|(name, _)| name.to_string())
                .collect()
        };
        choices.dedup();
        self.no_match = choices.is_empty();
        match choices.len() {
            0 => {}
            1 => {
                let c = &choices[0];
                let with_arg = COMMANDS
                    .iter()
                    .any(|(name, args)| name == c && !args.is_empty());
                let c = if with_arg && !takes_id {
                    format!("{c} ")
                } else {
                    c.clone()
                };
                self.replace_word(&c);
            }
            _ => {
                let common = common_prefix(&choices);
                if common.chars().count() > word.chars().count() {
                    self.replace_word(&common);
                } else {
                    // Nothing more in common: offer the first, Tab steps on.
                    let first = choices[0].clone();
                    self.replace_word(&first);
                    self.cycle = Some(0);
                }
                self.choices = choices;
            }
        }
    }

    /// Put `with` in place of the word being completed (the last one).
    fn replace_word(&mut self, with: &str) {
        let keep = self.text.rfind(char::is_whitespace).map_or(0, |i| {
            i + self.text[i..].chars().next().map_or(1, char::len_utf8)
        });
        self.text.truncate(keep);
        self.text.push_str(with);
    }

    /// The choice Tab put in the line, if it is stepping through them.
    pub fn current_choice(&self) -> Option<usize> {
        self.cycle
    }

    /// ↑ (`older`) or ↓: the previous or next command of `history`; past
    /// the newest, the line that was being typed comes back.
    pub fn walk(&mut self, history: &[String], older: bool) {
        self.choices.clear();
        self.no_match = false;
        self.cycle = None;
        if history.is_empty() {
            return;
        }
        let at = match (self.history_at, older) {
            (None, true) => {
                self.draft = self.text.clone();
                Some(history.len() - 1)
            }
            (None, false) => None,
            (Some(i), true) => Some(i.saturating_sub(1)),
            (Some(i), false) if i + 1 < history.len() => Some(i + 1),
            (Some(_), false) => None,
        };
        self.text = match at {
            Some(i) => history[i].clone(),
            None => std::mem::take(&mut self.draft),
        };
        self.history_at = at;
    }
}

fn common_prefix(words: &[String]) -> String {
    let Some(first) = words.first() else {
        return String::new();
    };
    let mut n = first.len();
    for w in &words[1..] {
        n = first
            .char_indices()
            .zip(w.chars())
            .take_while(|((_, a), b)| a.eq_ignore_ascii_case(b))
            .map(|((i, a), _)| i + a.len_utf8())
            .last()
            .unwrap_or(0)
            .min(n);
    }
    first[..n].to_string()
}

/// Remember a command that was run (not an empty one, nor the one just
/// before it again).
pub fn remember(history: &mut Vec<String>, line: &str) {
    let line = line.trim();
    if line.is_empty() || history.last().is_some_and(|l| l == line) {
        return;
    }
    history.push(line.to_string());
    if history.len() > HISTORY_CAP {
        history.remove(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn palette(text: &str) -> Palette {
        Palette {
            text: text.into(),
            ..Default::default()
        }
    }

    #[test]
    fn tab_completes_a_unique_command_and_lists_the_rest() {
        let mut p = palette("ja");
        p.complete(&[]);
        assert_eq!(p.text, "ja", "nothing starts with ja");
        assert!(p.no_match);
        let mut p = palette("jo");
        p.complete(&[]);
        assert_eq!(p.text, "jobs");
        // A command that takes an argument is ready for it.
        let mut p = palette("ver");
        p.complete(&[]);
        assert_eq!(p.text, "verify ");
        // "re": recover and restore agree on nothing more; Tab offers the
        // first, then the next, then wraps.
        let mut p = palette("re");
        p.complete(&[]);
        assert_eq!(p.choices, ["restore", "recover"]);
        assert_eq!(p.text, "restore");
        p.complete(&[]);
        assert_eq!(p.text, "recover");
        assert_eq!(p.current_choice(), Some(1));
        p.complete(&[]);
        assert_eq!(p.text, "restore");
        // "d": dashboard and drill; typing ends the cycle.
        let mut p = palette("d");
        p.complete(&[]);
        assert_eq!(p.choices, ["drill", "dashboard"]);
        p.edited();
        assert!(p.choices.is_empty());
        // Completing as far as the choices agree.
        let mut p = palette("h");
        p.complete(&[]);
        assert_eq!((p.text.as_str(), p.choices.len()), ("he", 2));
    }

    #[test]
    fn tab_completes_backup_ids_after_restore_and_verify() {
        let ids = ["fs-20260101-010000-aa", "fs-20260102-010000-bb", "cfg-1"];
        let mut p = palette("verify fs-20260102");
        p.complete(&ids);
        assert_eq!(p.text, "verify fs-20260102-010000-bb");
        let mut p = palette("restore fs");
        p.complete(&ids);
        assert_eq!(p.text, "restore fs-2026010");
        assert_eq!(p.choices.len(), 2);
        // Other commands take no id.
        let mut p = palette("jobs fs");
        p.complete(&ids);
        assert_eq!(p.text, "jobs fs");
    }

    #[test]
    fn history_walks_back_and_returns_to_the_draft() {
        let mut h = Vec::new();
        for l in ["jobs", "verify x", "verify x", " ", "catalog"] {
            remember(&mut h, l);
        }
        assert_eq!(h, ["jobs", "verify x", "catalog"]);
        let mut p = palette("dra");
        p.walk(&h, true);
        assert_eq!(p.text, "catalog");
        p.walk(&h, true);
        p.walk(&h, true);
        assert_eq!(p.text, "jobs");
        p.walk(&h, true);
        assert_eq!(p.text, "jobs", "the oldest stays");
        p.walk(&h, false);
        assert_eq!(p.text, "verify x");
        p.walk(&h, false);
        p.walk(&h, false);
        assert_eq!(p.text, "dra", "past the newest: what was typed");
        for i in 0..HISTORY_CAP + 5 {
            remember(&mut h, &format!("c{i}"));
        }
        assert_eq!(h.len(), HISTORY_CAP);
        assert_eq!(h.last().unwrap(), &format!("c{}", HISTORY_CAP + 4));
    }
}
