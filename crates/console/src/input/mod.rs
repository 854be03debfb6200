//! Keys to actions: overlays first (confirm, palette, filter, search,
//! message history, help), then an open wizard, then the key tables of
//! [`super::keymap`] (the full-screen job log's when it is open).

mod help_keys;
mod log_keys;
mod message_keys;
pub(crate) mod mouse;
mod palette_keys;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::app::{App, Confirm, ConfirmKind, Effect, Level, ListState, Overlay, Screen};
use super::keymap::{self, Action, Context};
use super::palette::{self, Palette};
use crate::wizards::{WizardKind, WizardStatus};

/// Verify a backup: queued work (it outlives the console). `deep` also
/// restores it into a scratch place and checks every file or row.
fn verify(id: String, deep: bool) -> Effect {
    Effect::Launch(lifeboat_engine::ops::queue::JobRequest::Verify {
        target: id,
        deep,
        from: None,
    })
}

pub(crate) fn is_ctrl_c(key: &KeyEvent) -> bool {
    key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL)
}

impl App {
    /// What one key press changes in the state, and what it asks of the
    /// world outside (work to launch, a backup to delete, a job to cancel,
    /// a log or a detail to read), returned instead of done.
    pub fn update(&mut self, key: KeyEvent) -> Vec<Effect> {
        self.key_input(key);
        std::mem::take(&mut self.effects)
    }

    fn key_input(&mut self, key: KeyEvent) {
        if key.kind == KeyEventKind::Release {
            return;
        }
        self.dirty = true;
        match std::mem::replace(&mut self.overlay, Overlay::None) {
            Overlay::Confirm(c) => return self.confirm_key(c, key),
            Overlay::Palette(p) => return self.palette_key(p, key),
            Overlay::Filter => return self.filter_key(key),
            Overlay::Help { scroll, search } => return self.help_key(scroll, search, key),
            Overlay::LogSearch => return self.log_search_key(key),
            Overlay::Messages => return self.messages_key(key),
            Overlay::Row { scroll } => return self.row_key(scroll, key),
            Overlay::None => {}
        }
        if self.wizard.is_some() && !self.wizard_hidden {
            return self.wizard_key(key);
        }
        let Some(action) = keymap::action_for(self.key_context(), &key) else {
            return;
        };
        if self.log_view.is_some() && self.log_act(action) {
            return;
        }
        self.act(action);
    }

    /// The row popup scrolls with the list keys and `y` copies the row's
    /// id (where the screen's `y` does); any other key closes it, and
    /// Ctrl-C still quits.
    fn row_key(&mut self, scroll: usize, key: KeyEvent) {
        if is_ctrl_c(&key) {
            return self.quit_path();
        }
        if key.code == KeyCode::Char('y') {
            self.overlay = Overlay::Row { scroll };
            if keymap::action_for(self.key_context(), &key) == Some(Action::CopyId) {
                self.act(Action::CopyId);
            }
            return;
        }
        if let Some(scroll) = self.row_room.scrolled(scroll, key.code) {
            self.overlay = Overlay::Row { scroll };
        }
    }

    /// Where keys are read now: the full-screen log when it is open, else
    /// the screen.
    pub fn key_context(&self) -> Context {
        if self.log_view.is_some() {
            Context::JobLog
        } else {
            Context::Screen(self.screen)
        }
    }

    fn wizard_key(&mut self, key: KeyEvent) {
        let wants_text = self.wizard.as_ref().is_some_and(|w| w.wants_text());
        if is_ctrl_c(&key) {
            return self.quit_path();
        }
        if !wants_text && matches!(key.code, KeyCode::Char('?') | KeyCode::F(1)) {
            self.overlay = Overlay::help();
            return;
        }
        if !wants_text && keymap::global_action_for(&key) == Some(Action::Messages) {
            return self.open_messages();
        }
        if !wants_text && self.leave_wizard(&key) {
            return;
        }
        let w = self.wizard.as_mut().expect("checked by the caller");
        if w.handle_key(key) == WizardStatus::Closed {
            self.wizard = None;
            self.wizard_hidden = false;
            self.effects.push(Effect::Refresh { force: true });
        } else {
            // What the key decided (a preview, queued work) starts now.
            self.effects.push(Effect::TickWizard);
        }
    }

    /// A wizard is a view of its work, not a lock on the console: `q`
    /// quits (asking first while its job runs), Tab, Shift-Tab and 1-6 go
    /// to a screen, and Esc while its work runs puts it aside; it keeps
    /// working, the tab bar says so, and `w` brings it back. Returns true
    /// when the key was taken here.
    fn leave_wizard(&mut self, key: &KeyEvent) -> bool {
        let running = self.wizard.as_ref().is_some_and(|w| w.is_running());
        // Only the keys no wizard uses: ←/→/h/l are a wizard's Back/Next.
        let to_screen = matches!(key.code, KeyCode::Tab | KeyCode::BackTab)
            || matches!(key.code, KeyCode::Char('1'..='6'));
        match keymap::action_for(Context::Screen(self.screen), key) {
            Some(Action::Quit) if key.code == KeyCode::Char('q') => self.quit_path(),
            Some(a @ (Action::NextTab | Action::PrevTab | Action::GoTab(_))) if to_screen => {
                self.wizard_hidden = true;
                self.act(a);
            }
            _ if key.code == KeyCode::Esc && running => {
                self.wizard_hidden = true;
                let title = self.wizard.as_ref().map(|w| w.title()).unwrap_or_default();
                self.say(
                    Level::Info,
                    format!("the {title} wizard keeps working; w brings it back"),
                );
            }
            _ => return false,
        }
        true
    }

    fn list_len(&self) -> usize {
        match self.screen {
            Screen::Catalog => self.backup_view.len(),
            Screen::Jobs => self.jobs_view.len(),
            Screen::Health => self.health_view().len(),
            Screen::Audit => self.audit_view.len(),
            Screen::Dashboard | Screen::Storage => 0,
        }
    }

    fn list_mut(&mut self) -> Option<&mut ListState> {
        Some(match self.screen {
            Screen::Catalog => &mut self.catalog_list,
            Screen::Jobs => &mut self.jobs_list,
            Screen::Health => &mut self.health_list,
            Screen::Audit => &mut self.audit_list,
            Screen::Dashboard | Screen::Storage => return None,
        })
    }

    fn move_selection(&mut self, f: impl Fn(usize, usize, usize) -> usize) {
        let len = self.list_len();
        let Some(list) = self.list_mut() else { return };
        if len == 0 {
            list.selected = 0;
            return;
        }
        let page = list.page.get().max(1);
        list.selected = f(list.selected, page, len).min(len - 1);
        if self.screen == Screen::Jobs {
            self.effects.push(Effect::LoadJobLog { changed: false });
        }
        if self.screen == Screen::Catalog && self.detail.is_some() {
            self.open_detail();
        }
    }

    /// Switch screens (closing the detail pane or the log of the one left).
    pub fn go(&mut self, screen: Screen) {
        self.screen = screen;
        self.detail = None;
        self.log_view = None;
        self.dirty = true;
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::Quit => self.quit_path(),
            Action::Help => self.overlay = Overlay::help(),
            Action::Palette => self.overlay = Overlay::Palette(Palette::default()),
            Action::Filter => self.overlay = Overlay::Filter,
            Action::NextTab => self.go(Screen::ALL[(self.screen.index() + 1) % 6]),
            Action::PrevTab => self.go(Screen::ALL[(self.screen.index() + 5) % 6]),
            Action::GoTab(i) => self.go(Screen::ALL[i.min(5)]),
            Action::Up => self.move_selection(|s, _, _| s.saturating_sub(1)),
            Action::Down => self.move_selection(|s, _, _| s + 1),
            Action::PageUp => self.move_selection(|s, p, _| s.saturating_sub(p)),
            Action::PageDown => self.move_selection(|s, p, _| s + p),
            Action::Top => self.move_selection(|_, _, _| 0),
            Action::Bottom => self.move_selection(|_, _, len| len - 1),
            Action::Enter => {
                if self.screen == Screen::Catalog {
                    self.open_detail();
                }
            }
            Action::Back => self.back(),
            Action::Recheck => {
                // Due at the next tick (in-flight ones are not doubled).
                self.last_health = None;
                self.last_storage = None;
                self.last_restore = None;
                self.effects
                    .push(Effect::Check(crate::background::Task::Audit));
                self.say(
                    Level::Info,
                    "re-checking health, storage and the audit chain",
                );
            }
            Action::ShowWizard => {
                if self.wizard.is_some() {
                    self.wizard_hidden = false;
                } else {
                    self.say(Level::Warn, "no wizard is open (: opens one)");
                }
            }
            Action::SortNext => {
                self.sort = self.sort.next();
                self.apply_backup_view();
                self.say_sort();
            }
            Action::SortReverse => {
                self.descending = !self.descending;
                self.apply_backup_view();
                self.say_sort();
            }
            Action::CopyId => {
                let id = match self.screen {
                    Screen::Catalog => self.selected_backup_key().map(|id| id.to_string()),
                    Screen::Jobs => self.selected_job().map(|j| j.id.to_string()),
                    _ => None,
                };
                match id {
                    Some(id) => self.effects.push(Effect::Copy(id)),
                    None => self.say(Level::Warn, "nothing selected to copy"),
                }
            }
            Action::Inspect => {
                if self.row_fields().is_some() {
                    self.overlay = Overlay::Row { scroll: 0 };
                } else {
                    self.say(Level::Warn, "no row selected");
                }
            }
            Action::Verify | Action::VerifyDeep => {
                if let Some(id) = self.selected_backup_id() {
                    self.effects.push(verify(id, action == Action::VerifyDeep));
                }
            }
            Action::Restore => {
                let id = self.selected_backup_id();
                self.open_wizard(WizardKind::Restore { backup_id: id });
            }
            Action::Delete => {
                if let Some(i) = self.backup_view.get(self.catalog_list.selected) {
                    let b = &self.backups[*i as usize];
                    self.overlay = Overlay::Confirm(Confirm {
                        kind: ConfirmKind::Delete {
                            id: b.id.to_string(),
                            name: b.name.as_deref().map(str::to_string),
                        },
                        input: String::new(),
                        error: None,
                    });
                }
            }
            Action::CancelJob => self.ask_cancel(),
            Action::ToggleMouse => self.set_mouse(!self.mouse),
            Action::OpenLog => self.open_log(),
            Action::Messages => self.open_messages(),
            // Only the full-screen log has these (see `log_act`).
            Action::Follow | Action::Search | Action::NextMatch | Action::PrevMatch => {}
        }
    }

    /// The status line after `s` or `S`: the order the table now has (the
    /// title and the header's arrow say the same).
    fn say_sort(&mut self) {
        let order = if self.descending {
            "descending"
        } else {
            "ascending"
        };
        self.say(
            Level::Info,
            format!("sorted by {} ({order})", self.sort.label()),
        );
    }

    fn back(&mut self) {
        if self.detail.take().is_some() || self.log_view.take().is_some() {
            return;
        }
        if self.filter().is_some_and(|f| !f.is_empty()) {
            self.edit_filter(String::clear);
        } else {
            self.message = None;
        }
    }

    fn selected_backup_id(&mut self) -> Option<String> {
        let id = self
            .backup_view
            .get(self.catalog_list.selected)
            .map(|&i| self.backups[i as usize].id.to_string());
        if id.is_none() {
            self.say(Level::Warn, "no backup selected");
        }
        id
    }

    fn open_detail(&mut self) {
        if let Some(id) = self
            .backup_view
            .get(self.catalog_list.selected)
            .map(|&i| self.backups[i as usize].id.to_string())
        {
            self.effects.push(Effect::LoadDetail(id));
        }
    }

    /// Open a wizard (an effect: a wizard reads the catalog or starts a
    /// preview when it opens); an error is shown in the status line.
    pub fn open_wizard(&mut self, kind: WizardKind) {
        if let Some(what) = self.wizard.as_ref().and_then(|w| w.mid_way()) {
            // Part-way through: a new wizard would drop it without a word.
            self.wizard_hidden = false;
            return self.say(
                Level::Warn,
                format!("{what} is open: here it is (Esc there closes it, then open another)"),
            );
        }
        if let Some(w) = self.wizard.as_ref().filter(|w| w.is_running()) {
            // Its work would lose its only view: one wizard at a time.
            let msg = format!(
                "the {} wizard is still working: w brings it back (cancel or finish it first)",
                w.title()
            );
            self.wizard_hidden = false;
            return self.say(Level::Warn, msg);
        }
        self.effects.push(Effect::OpenWizard(kind));
    }

    fn ask_cancel(&mut self) {
        let Some(j) = self.selected_job() else {
            return self.say(Level::Warn, "no job selected");
        };
        if !j.is_active() {
            let msg = format!("job {} is already {}; nothing to cancel", j.id, j.state);
            return self.say(Level::Warn, msg);
        }
        self.overlay = Overlay::Confirm(Confirm {
            kind: ConfirmKind::CancelJob {
                id: j.id,
                what: format!("{} {}", j.kind, j.target),
            },
            input: String::new(),
            error: None,
        });
    }

    /// `q`, Ctrl-C and `:quit`: ask first while this console's work runs,
    /// telling the jobs that go on after it quits from what a wizard runs
    /// inside the console (the app's stop command), which does not.
    pub fn quit_path(&mut self) {
        let mut running: Vec<String> = self
            .children
            .iter()
            .map(|c| format!("{} (pid {})", c.label, c.pid))
            .collect();
        let mut abandoned = Vec::new();
        for u in self.wizard.iter().flat_map(|w| w.underway()) {
            if u.outlives_console {
                running.push(u.what);
            } else {
                abandoned.push(u.what);
            }
        }
        abandoned.extend(self.wizard.as_ref().and_then(|w| w.mid_way()));
        if running.is_empty() && abandoned.is_empty() {
            self.quit = true;
        } else {
            self.overlay = Overlay::Confirm(Confirm {
                kind: ConfirmKind::Quit { running, abandoned },
                input: String::new(),
                error: None,
            });
        }
    }

    fn confirm_key(&mut self, mut c: Confirm, key: KeyEvent) {
        if key.code == KeyCode::Esc
            || (is_ctrl_c(&key) && !matches!(c.kind, ConfirmKind::Quit { .. }))
        {
            if matches!(c.kind, ConfirmKind::Delete { .. }) {
                self.say(Level::Info, "delete cancelled; nothing was changed");
            }
            return;
        }
        match &c.kind {
            ConfirmKind::Delete { id, name } => match key.code {
                KeyCode::Enter => {
                    let typed = c.input.trim();
                    if typed == id || name.as_deref() == Some(typed) {
                        self.effects.push(Effect::Delete(id.clone()));
                        return;
                    }
                    c.error = Some(format!(
                        "'{typed}' does not match: type the backup's id{} exactly, or Esc to keep it",
                        name.as_deref()
                            .map(|n| format!(" or its name '{n}'"))
                            .unwrap_or_default()
                    ));
                    c.input.clear();
                }
                KeyCode::Backspace => {
                    c.input.pop();
                }
                KeyCode::Char(ch) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                    c.input.push(ch);
                    c.error = None;
                }
                _ => {}
            },
            ConfirmKind::CancelJob { id, .. } => match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => {
                    self.effects.push(Effect::CancelJob(*id));
                    return;
                }
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Enter => return,
                _ => {}
            },
            ConfirmKind::Quit { .. } => match key.code {
                // A second Ctrl-C means it.
                _ if is_ctrl_c(&key) => {
                    self.quit = true;
                    return;
                }
                KeyCode::Char('y') | KeyCode::Char('Y') => {
                    self.quit = true;
                    return;
                }
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Enter => return,
                _ => {}
            },
        }
        self.overlay = Overlay::Confirm(c);
    }

    /// Typing the current screen's filter: the rows narrow with each key;
    /// Enter keeps the filter, Esc clears it.
    fn filter_key(&mut self, key: KeyEvent) {
        match key.code {
            KeyCode::Enter => return,
            KeyCode::Esc => return self.edit_filter(String::clear),
            KeyCode::Backspace => self.edit_filter(|f| {
                f.pop();
            }),
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.edit_filter(|f| f.push(c))
            }
            _ if is_ctrl_c(&key) => return self.quit_path(),
            _ => {}
        }
        self.overlay = Overlay::Filter;
    }

    /// `:verify [--deep] ID` (the flag on either side of the id).
    fn verify_command(&mut self, args: &[&str]) {
        let deep = args.contains(&"--deep");
        let (flags, ids): (Vec<&str>, Vec<&str>) = args.iter().partition(|a| a.starts_with('-'));
        if let Some(bad) = flags.iter().find(|f| **f != "--deep") {
            return self.say(
                Level::Error,
                format!("`:verify` knows only --deep, not {bad}: :verify [--deep] ID"),
            );
        }
        match ids.as_slice() {
            [id] => self.effects.push(verify(id.to_string(), deep)),
            [] => self.say(
                Level::Error,
                "`:verify` needs a backup id (e.g. :verify --deep fs-20261126-020000), or press v (V: deep) on the Catalog screen",
            ),
            _ => self.say(
                Level::Error,
                format!("`:verify` takes one backup id, not {}: :verify [--deep] ID", ids.join(" ")),
            ),
        }
    }

    /// Run a palette command (without the `:`).
    pub fn run_command(&mut self, line: &str) {
        let mut words = line.split_whitespace();
        let Some(cmd) = words.next() else { return };
        let args: Vec<&str> = words.collect();
        let arg = args.first().map(|a| a.to_string());
        let cmd = cmd.to_lowercase();
        if let Some(s) = Screen::by_name(&cmd) {
            return self.go(s);
        }
        match cmd.as_str() {
            "q" | "quit" | "exit" => self.quit_path(),
            "help" | "h" => self.overlay = Overlay::help(),
            "messages" | "msgs" | "msg" => self.open_messages(),
            "backup" => self.open_wizard(WizardKind::Backup),
            "restore" => self.open_wizard(WizardKind::Restore { backup_id: arg }),
            "recover" | "recovery" | "dr" => self.open_wizard(WizardKind::Recovery),
            "drill" => self.open_wizard(WizardKind::Drill),
            "prune" => self.open_wizard(WizardKind::Prune),
            "verify" => self.verify_command(&args),
            other => self.say(
                Level::Error,
                format!(
                    "unknown command ':{other}'; commands: {} (Tab completes)",
                    palette::commands_text()
                ),
            ),
        }
    }
}
