//! Where each build step is in the Dockerfile. buildah names a failing step by its text and
//! its position (`[2/3] STEP 4/5: RUN make`), never by line; this reads the Dockerfile's
//! instructions as buildah's parser splits them (comments, blank lines, continuation lines,
//! the `escape` parser directive) so that an error can name the line.

/// One instruction: the line it starts on (1-based) and its keyword, upper-case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Instruction {
    pub(crate) line: usize,
    pub(crate) keyword: String,
    /// The instruction's text with continuation lines joined, for messages.
    pub(crate) text: String,
}

/// A Dockerfile's build stages, each a list of the steps buildah numbers: the stage's `FROM`
/// and the instructions up to the next `FROM`. Global `ARG`s before the first `FROM` are no
/// step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Steps {
    stages: Vec<Vec<Instruction>>,
}

impl Steps {
    pub(crate) fn parse(text: &str) -> Self {
        let mut stages: Vec<Vec<Instruction>> = Vec::new();
        for instruction in instructions(text) {
            if instruction.keyword == "FROM" {
                stages.push(vec![instruction]);
            } else if let Some(stage) = stages.last_mut() {
                stage.push(instruction);
            }
        }
        Self { stages }
    }

    /// The instruction of step `step` of stage `stage` (both 1-based, as buildah prints them).
    pub(crate) fn get(&self, stage: usize, step: usize) -> Option<&Instruction> {
        self.stages
            .get(stage.checked_sub(1)?)?
            .get(step.checked_sub(1)?)
    }

    /// The line of the first `FROM` naming `image`.
    pub(crate) fn line_of_from(&self, image: &str) -> Option<usize> {
        self.stages
            .iter()
            .filter_map(|stage| stage.first())
            .find(|from| from.text.split_whitespace().nth(1) == Some(image))
            .map(|from| from.line)
    }
}

/// The instructions in order. The `escape` directive is honoured only at the very top, as
/// Docker's parser does; lines that are comments are dropped, also inside continuations.
fn instructions(text: &str) -> Vec<Instruction> {
    let mut escape = '\\';
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    let mut directives = true;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if directives {
            match directive(line) {
                Some((name, value)) => {
                    if name == "escape" {
                        escape = value.chars().next().unwrap_or(escape);
                    }
                    continue;
                }
                None => directives = false,
            }
        }
        if line.starts_with('#') || (line.is_empty() && current.is_none()) {
            continue;
        }
        let (start, mut joined) = current.take().unwrap_or((index + 1, String::new()));
        match line.strip_suffix(escape) {
            Some(head) => {
                joined.push_str(head.trim_end());
                joined.push(' ');
                current = Some((start, joined));
            }
            None => {
                joined.push_str(line);
                push(&mut out, start, &joined);
            }
        }
    }
    if let Some((start, joined)) = current {
        push(&mut out, start, &joined);
    }
    out
}

fn push(out: &mut Vec<Instruction>, line: usize, text: &str) {
    let text = text.trim();
    if let Some(keyword) = text.split_whitespace().next() {
        out.push(Instruction {
            line,
            keyword: keyword.to_ascii_uppercase(),
            text: text.to_owned(),
        });
    }
}

/// A parser directive (`# escape=x`, `# syntax=...`) at the top of the file: its name in
/// lower case and its value.
fn directive(line: &str) -> Option<(String, &str)> {
    let (name, value) = line.strip_prefix('#')?.split_once('=')?;
    let name = name.trim().to_ascii_lowercase();
    matches!(name.as_str(), "escape" | "syntax").then_some((name, value.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<(usize, usize, usize, String)> {
        let steps = Steps::parse(text);
        let mut out = Vec::new();
        for (s, stage) in steps.stages.iter().enumerate() {
            for (k, i) in stage.iter().enumerate() {
                out.push((s + 1, k + 1, i.line, i.keyword.clone()));
            }
        }
        out
    }

    /// (stage, step, line, keyword) of each step, as buildah numbers them.
    type Step = (usize, usize, usize, &'static str);

    #[test]
    fn steps_are_numbered_per_stage_with_their_lines() {
        let cases: &[(&str, &[Step])] = &[
            (
                "FROM scratch\nCOPY a /a\n\n# comment\nUSER 1\n",
                &[(1, 1, 1, "FROM"), (1, 2, 2, "COPY"), (1, 3, 5, "USER")],
            ),
            (
                "ARG V=1\nFROM scratch AS a\nRUN x \\\n  # inside\n  && y\nFROM scratch\nCOPY --from=a / /\n",
                &[
                    (1, 1, 2, "FROM"),
                    (1, 2, 3, "RUN"),
                    (2, 1, 6, "FROM"),
                    (2, 2, 7, "COPY"),
                ],
            ),
            (
                "# escape=`\nFROM scratch\nCOPY hi \\\n  /hi\nENV A=1 `\n  B=2\n",
                &[
                    (1, 1, 2, "FROM"),
                    (1, 2, 3, "COPY"),
                    (1, 3, 4, "/HI"),
                    (1, 4, 5, "ENV"),
                ],
            ),
            (
                "from scratch\ncopy a b\n",
                &[(1, 1, 1, "FROM"), (1, 2, 2, "COPY")],
            ),
        ];
        for (text, want) in cases {
            let want: Vec<_> = want
                .iter()
                .map(|(s, k, l, w)| (*s, *k, *l, (*w).to_owned()))
                .collect();
            assert_eq!(lines(text), want, "{text:?}");
        }
    }

    #[test]
    fn a_from_line_is_found_by_its_image() {
        let steps = Steps::parse("FROM scratch AS a\nRUN x\nFROM example.com/base:1\nUSER 1\n");
        assert_eq!(steps.line_of_from("example.com/base:1"), Some(3));
        assert_eq!(steps.line_of_from("other"), None);
        assert_eq!(steps.get(2, 2).map(|i| i.line), Some(4));
        assert_eq!(steps.get(3, 1), None);
        assert_eq!(steps.get(0, 1), None);
    }
}
