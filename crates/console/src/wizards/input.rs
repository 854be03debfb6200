//! Text typed into a wizard: a one-line input (a backup name, a recovery
//! time) and type-to-confirm for anything that replaces live data.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use super::widgets::text;

/// A one-line text input.
#[derive(Debug, Clone, Default)]
pub struct TextInput {
    pub value: String,
    /// Cursor position in chars.
    cursor: usize,
}

impl TextInput {
    pub fn new(value: &str) -> TextInput {
        TextInput {
            value: value.to_string(),
            cursor: value.chars().count(),
        }
    }

    /// Apply an editing key; true when it was one (typed, deleted, moved).
    pub fn handle(&mut self, key: &KeyEvent) -> bool {
        let len = self.value.chars().count();
        match key.code {
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                if len >= 200 {
                    return true;
                }
                let at = self.byte_at(self.cursor);
                self.value.insert(at, c);
                self.cursor += 1;
                true
            }
            KeyCode::Char('u') => {
                self.value.clear();
                self.cursor = 0;
                true
            }
            KeyCode::Backspace if self.cursor > 0 => {
                let at = self.byte_at(self.cursor - 1);
                self.value.remove(at);
                self.cursor -= 1;
                true
            }
            KeyCode::Delete if self.cursor < len => {
                let at = self.byte_at(self.cursor);
                self.value.remove(at);
                true
            }
            KeyCode::Left if self.cursor > 0 => {
                self.cursor -= 1;
                true
            }
            KeyCode::Right if self.cursor < len => {
                self.cursor += 1;
                true
            }
            KeyCode::Home => {
                self.cursor = 0;
                true
            }
            KeyCode::End => {
                self.cursor = len;
                true
            }
            _ => false,
        }
    }

    fn byte_at(&self, chars: usize) -> usize {
        self.value
            .char_indices()
            .nth(chars)
            .map(|(i, _)| i)
            .unwrap_or(self.value.len())
    }

    /// The input as a line: `label [value▏]`.
    pub fn line(&self, label: &str) -> Line<'static> {
        let (a, b) = self.value.split_at(self.byte_at(self.cursor));
        Line::from(vec![
            Span::raw(format!("{label} [")),
            Span::raw(a.to_string()),
            Span::styled("▏", Style::default().add_modifier(Modifier::SLOW_BLINK)),
            Span::raw(b.to_string()),
            Span::raw("]"),
        ])
    }
}

impl TextInput {
    /// The value as spans in `base` style, for a field inside a line of
    /// text: the cursor is the cell under it (a space at the end) with
    /// reverse video toggled, so no glyph is inserted and the line reads
    /// (and copies) as typed.
    pub fn inline(&self, base: Style) -> Vec<Span<'static>> {
        let (before, after) = self.value.split_at(self.byte_at(self.cursor));
        let mut rest = after.chars();
        let under = rest.next().map_or_else(|| " ".to_string(), String::from);
        let cursor = if base.add_modifier.contains(Modifier::REVERSED) {
            base.remove_modifier(Modifier::REVERSED)
        } else {
            base.add_modifier(Modifier::REVERSED)
        };
        vec![
            Span::styled(before.to_string(), base),
            Span::styled(under, cursor),
            Span::styled(rest.collect::<String>(), base),
        ]
    }
}

/// Type-to-confirm: the operator must type `expected` exactly.
#[derive(Debug, Clone)]
pub struct Confirm {
    pub expected: String,
    pub input: TextInput,
    /// Set when Enter was pressed with the wrong text.
    pub refused: Option<String>,
}

impl Confirm {
    pub fn new(expected: &str) -> Confirm {
        Confirm {
            expected: expected.to_string(),
            input: TextInput::default(),
            refused: None,
        }
    }

    /// Enter pressed: true when the typed text matches; otherwise the
    /// refusal says what was typed and what is needed.
    pub fn submit(&mut self) -> bool {
        if self.input.value == self.expected {
            self.refused = None;
            true
        } else {
            self.refused = Some(format!(
                "'{}' does not match: type {} exactly to confirm, or Esc to go back",
                self.input.value, self.expected
            ));
            false
        }
    }

    pub fn lines(&self) -> Vec<Line<'static>> {
        let mut v = vec![self
            .input
            .line(&format!("Type {} to confirm:", self.expected))];
        if let Some(r) = &self.refused {
            v.push(text(format!("Refused: {r}")));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn text_input_edits_at_the_cursor() {
        let mut t = TextInput::new("ab");
        t.handle(&key(KeyCode::Left));
        t.handle(&key(KeyCode::Char('x')));
        assert_eq!(t.value, "axb");
        t.handle(&key(KeyCode::Backspace));
        assert_eq!(t.value, "ab");
        t.handle(&key(KeyCode::End));
        t.handle(&key(KeyCode::Char('é')));
        t.handle(&key(KeyCode::Backspace));
        t.handle(&key(KeyCode::Backspace));
        assert_eq!(t.value, "a");
    }

    #[test]
    fn an_inline_field_reads_as_typed_with_the_cursor_cell_inverted() {
        let base = Style::default().add_modifier(Modifier::REVERSED);
        let mut t = TextInput::new("/srv/x");
        let text = |spans: &[Span]| spans.iter().map(|s| s.content.as_ref()).collect::<String>();
        // At the end the cursor is a space: the value is followed by it.
        let spans = t.inline(base);
        assert_eq!(text(&spans), "/srv/x ");
        assert!(!spans[1].style.add_modifier.contains(Modifier::REVERSED));
        t.handle(&key(KeyCode::Home));
        let spans = t.inline(base);
        assert_eq!(text(&spans), "/srv/x");
        assert_eq!(spans[1].content, "/");
    }

    #[test]
    fn confirm_refuses_anything_but_the_exact_text() {
        let mut c = Confirm::new("RECOVER");
        for ch in "recover".chars() {
            c.input.handle(&key(KeyCode::Char(ch)));
        }
        assert!(!c.submit());
        assert!(c
            .refused
            .as_deref()
            .unwrap()
            .contains("type RECOVER exactly"));
        c.input = TextInput::new("RECOVER");
        assert!(c.submit());
    }
}
