//! Buildspec parsing: valid buildspecs and every kind of rejection, with key paths and lines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use haven_build::{Buildspec, OnFailure, PhaseName, Shell};

/// Parses `yaml`; with no `expect` it must be valid, else its error must contain each line.
fn check(yaml: &str, expect: &[&str]) {
    let result = Buildspec::parse(yaml);
    match (result, expect.is_empty()) {
        (Ok(_), true) => {}
        (Ok(spec), false) => panic!("expected errors {expect:?}, parsed {spec:#?}\n{yaml}"),
        (Err(e), true) => panic!("expected a valid buildspec, got:\n{e}\n{yaml}"),
        (Err(e), false) => {
            let text = e.to_string();
            for want in expect {
                assert!(
                    text.lines().any(|l| l.contains(want)),
                    "missing {want:?} in:\n{text}\n--- for ---\n{yaml}"
                );
            }
            assert_eq!(
                e.diagnostics.len(),
                expect.len(),
                "unexpected extra diagnostics:\n{text}"
            );
        }
    }
}

#[test]
fn valid_buildspecs() {
    let cases: &[&str] = &[
        // The smallest buildspec.
        "version: 0.2\nphases:\n  build:\n    commands:\n      - make\n",
        // Quoted version, single-string commands, every documented key.
        r#"
version: "0.2"
env:
  shell: bash
  variables:
    JAVA_HOME: "/usr/lib/jvm/java-8-openjdk-amd64"
    EMPTY: ""
    NUMBER: 42
  parameter-store:
    LOGIN_PASSWORD: /CodeBuild/dockerLoginPassword
  exported-variables:
    - MY_VAR
  git-credential-helper: yes
phases:
  install:
    on-failure: CONTINUE
    runtime-versions:
      java: corretto11
    commands:
      - echo install
    finally:
      - echo always
  pre_build:
    commands: echo one command
  build:
    on-failure: ABORT
    commands:
      - "export PACKAGE_NAME=$(cat package.json | grep name | head -1 | awk -F: '{ print $2 }')"
      - |
        multi
        line
  post_build:
    commands: []
reports:
  arn:aws:codebuild:us-east-1:123456789012:report-group/shared:
    files:
      - "**/*"
    base-directory: target/tests/reports
    discard-paths: no
  unit:
    files: [junit.xml]
    file-format: JunitXml
artifacts:
  files:
    - target/app
    - '**/*'
  name: app-$(date +%Y-%m-%d)
  discard-paths: yes
  base-directory: 'my-build*'
  exclude-paths: ['*.tmp']
  enable-symlinks: no
  s3-prefix: builds
cache:
  paths:
    - '/root/.m2/**/*'
"#,
        // An install phase may hold only runtime versions.
        "version: 0.2\nphases:\n  install:\n    runtime-versions:\n      rust: latest\n",
        // Anchors and aliases.
        "version: 0.2\nphases:\n  build:\n    commands: &c\n      - echo a\n  post_build:\n    commands: *c\n",
    ];
    for yaml in cases {
        check(yaml, &[]);
    }
}

#[test]
fn the_model_holds_what_was_written() {
    let spec = Buildspec::parse(
        r#"
version: 0.2
env:
  shell: bash
  variables:
    A: "1"
    B: 2.50
  parameter-store:
    TOKEN: /app/token
  exported-variables: [OUT]
phases:
  pre_build:
    on-failure: CONTINUE
    commands:
      - echo a
    finally:
      - echo b
  build:
    commands: make
artifacts:
  files: [out/*]
  discard-paths: true
reports:
  unit:
    files: ['**/*.xml']
"#,
    )
    .unwrap();
    assert_eq!(spec.env.shell, Shell::Bash);
    // Values are kept as written: 2.50 is not turned into 2.5.
    assert_eq!(
        spec.env.variables,
        [("A".into(), "1".into()), ("B".into(), "2.50".into())]
    );
    assert_eq!(
        spec.env.parameter_store,
        [("TOKEN".into(), "/app/token".into())]
    );
    assert_eq!(spec.env.exported_variables, ["OUT"]);
    let pre = spec.phases.get(PhaseName::PreBuild).unwrap();
    assert_eq!(pre.on_failure, Some(OnFailure::Continue));
    assert_eq!(pre.commands, ["echo a"]);
    assert_eq!(pre.finally, ["echo b"]);
    assert_eq!(spec.phases.build.as_ref().unwrap().commands, ["make"]);
    assert!(spec.phases.install.is_none());
    let artifacts = spec.artifacts.unwrap();
    assert!(artifacts.discard_paths);
    assert_eq!(artifacts.files, ["out/*"]);
    assert_eq!(spec.reports[0].name, "unit");
    // The default shell is CodeBuild's: /bin/sh.
    let plain = Buildspec::parse("version: 0.2\nphases:\n  build:\n    commands: [x]\n").unwrap();
    assert_eq!(plain.env.shell, Shell::Sh);
}

#[test]
fn rejected_buildspecs() {
    let cases: &[(&str, &[&str])] = &[
        (
            "version: 0.2\nphases:\n  build:\n    comands:\n      - make\n",
            &[
                "line 4: phases.build.comands: unknown key; did you mean `commands`?",
                "line 3: phases.build: `commands` is required when the phase is present",
            ],
        ),
        (
            "version: 0.2\nphases:\n  prebuild:\n    commands: [a]\n",
            &["line 3: phases.prebuild: unknown key; did you mean `pre_build`?"],
        ),
        (
            "version: 0.2\nphase:\n  build:\n    commands: [a]\n",
            &[
                "line 2: phase: unknown key; did you mean `phases`?",
                "line 1: phases: required",
            ],
        ),
        (
            "version: 0.1\nphases:\n  build:\n    commands: [a]\n",
            &["line 1: version: 0.1 is not supported"],
        ),
        (
            "version: 0.3\nphases:\n  build:\n    commands: [a]\n",
            &["line 1: version: unsupported version `0.3`; use `version: 0.2`"],
        ),
        (
            "phases:\n  build:\n    commands: [a]\n",
            &["version: required; use `version: 0.2`"],
        ),
        (
            "version: 0.2\nenv:\n  secrets-manager:\n    X: secret:key\nphases:\n  build:\n    commands: [a]\n",
            &[
                "line 3: env.secrets-manager: not supported: not supported by the local twin; keep secrets in `parameter-store`",
            ],
        ),
        (
            "version: 0.2\nenv:\n  variable:\n    A: b\nphases: {}\n",
            &["line 3: env.variable: unknown key; did you mean `variables`?"],
        ),
        (
            "version: 0.2\nenv:\n  variables:\n    - A=b\nphases: {}\n",
            &["line 4: env.variables: expected a mapping, found a list"],
        ),
        (
            "version: 0.2\nenv:\n  variables:\n    A:\n    CODEBUILD_X: y\nphases: {}\n",
            &[
                "line 4: env.variables.A: needs a value",
                "line 5: env.variables.CODEBUILD_X: names starting with CODEBUILD_ are reserved",
            ],
        ),
        (
            "version: 0.2\nenv:\n  shell: zsh\nphases: {}\n",
            &["line 3: env.shell: unsupported shell `zsh`: use `bash` or `/bin/sh`"],
        ),
        (
            "version: 0.2\nenv:\n  shell: powershell.exe\nphases: {}\n",
            &["env.shell: `powershell.exe` is a Windows shell"],
        ),
        (
            "version: 0.2\nenv:\n  parameter-store:\n    TOKEN: /t\n  exported-variables: [TOKEN, AWS_REGION]\nphases: {}\n",
            &[
                "env.exported-variables[1]: `AWS_REGION` cannot be exported",
                "env.exported-variables: `TOKEN` comes from parameter-store",
            ],
        ),
        (
            "version: 0.2\nenv:\n  git-credential-helper: maybe\nphases: {}\n",
            &["line 3: env.git-credential-helper: expected yes or no, found `maybe`"],
        ),
        (
            "version: 0.2\nphases:\n  build:\n    on-failure: abort\n    commands: [a]\n",
            &[
                "line 4: phases.build.on-failure: must be ABORT or CONTINUE, not `abort`; did you mean `ABORT`?",
            ],
        ),
        (
            "version: 0.2\nphases:\n  build:\n    run-as: nobody\n    commands: [a]\n",
            &["line 4: phases.build.run-as: not supported"],
        ),
        (
            "version: 0.2\nphases:\n  build:\n    runtime-versions:\n      rust: 1\n    commands: [a]\n",
            &[
                "line 4: phases.build.runtime-versions: not supported: only valid in the install phase",
            ],
        ),
        (
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo a: b\n",
            &[
                "line 5: phases.build.commands[0]: expected a string, found a mapping (quote a command that contains `: `)",
            ],
        ),
        (
            "version: 0.2\nphases:\n  build:\n    commands: {a: b}\n",
            &["line 4: phases.build.commands: expected a list of strings, found a mapping"],
        ),
        (
            "version: 0.2\nrun-as: root\nproxy:\n  logs: yes\nphases: {}\n",
            &[
                "line 2: run-as: not supported",
                "line 3: proxy: not supported",
            ],
        ),
        (
            "version: 0.2\nphases: {}\nartifacts:\n  files: [../outside, /abs]\n  discard-path: yes\n  secondary-artifacts: {}\n",
            &[
                "line 4: artifacts.files[0]: `../outside` must stay inside the source directory",
                "line 4: artifacts.files[1]: `/abs` must be relative to the source directory",
                "line 5: artifacts.discard-path: unknown key; did you mean `discard-paths`?",
                "line 6: artifacts.secondary-artifacts: not supported",
            ],
        ),
        (
            "version: 0.2\nphases: {}\nartifacts:\n  name: x\n",
            &["artifacts.files: required"],
        ),
        (
            "version: 0.2\nphases: {}\nreports:\n  unit:\n    file: [a.xml]\n    file-format: CUCUMBERJSON\n  other:\n    files: [b]\n    file-format: JUNIT\n",
            &[
                "line 5: reports.unit.file: unknown key; did you mean `files`?",
                "line 4: reports.unit.files: required",
                "line 6: reports.unit.file-format: `CUCUMBERJSON` is not supported",
                "line 9: reports.other.file-format: unknown report format `JUNIT`; did you mean `JUNITXML`?",
            ],
        ),
        (
            "version: 0.2\nphases: {}\nreports: {a: {files: x}, b: {files: x}, c: {files: x}, d: {files: x}, e: {files: x}, f: {files: x}}\n",
            &["line 3: reports: 6 report groups; CodeBuild allows at most 5"],
        ),
        (
            "version: 0.2\nphases:\n  build:\n    commands: [a]\n  build:\n    commands: [b]\n",
            &["line 5: invalid YAML: duplicate key `build` (first defined on line 3)"],
        ),
        (
            "version: 0.2\nphases:\n  build:\n    commands: [a\n",
            &["invalid YAML"],
        ),
        ("", &["line 1: the buildspec is empty"]),
        ("- a\n- b\n", &["line 1: expected a mapping, found a list"]),
        (
            "version: 0.2\nphases: {}\ncache:\n  path: [x]\n",
            &[
                "line 4: cache.path: unknown key; did you mean `paths`?",
                "line 3: cache.paths: required",
            ],
        ),
    ];
    for (yaml, expect) in cases {
        check(yaml, expect);
    }
}
