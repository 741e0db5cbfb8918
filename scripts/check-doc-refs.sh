#!/usr/bin/env bash
# Checks that the repository refers only to documents it holds. Prints each dangling
# reference as `file:line: target` and exits 1; exits 0 when every reference resolves.
#
# References checked, in every text file. Skipped: target/, .git/, .venv/, and the store's
# migrations, whose text must never change once released (each database records their
# checksums and refuses a migration whose text differs):
# - `docs/NAME.md`, optionally with `#anchor`: the file must exist at the repository root,
#   and the anchor must be one of its headings (GitHub's heading ids);
# - relative Markdown links `](path)` and `](path#anchor)` in *.md files, resolved from the
#   linking file's folder (`](#anchor)` names a heading of the same file);
# - a bare `NAME.md` (not part of a path): it must exist beside the file that names it or
#   at the repository root, so names of documents kept elsewhere are caught;
# - the word "contract" followed by a section sign and a number: a section of an interface
#   document that is not in the repository (the project's interfaces are docs/api.md);
# - a bare section sign `§N` on a line that names no document (RFC sections excepted): a
#   section of a document the reader cannot find.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
self="scripts/$(basename "$0")"

# Every text file, as `path` relative to the root, without the skipped folders.
scan() {
  grep -rnIE "$@" --exclude-dir=target --exclude-dir=.git --exclude-dir=.venv . 2>/dev/null \
    | sed 's|^\./||' | grep -v -e "^$self:" -e '^crates/store/migrations/' || true
}

# GitHub's id for a heading text: lower case, punctuation dropped, spaces to hyphens.
slugify() {
  tr '[:upper:]' '[:lower:]' | sed -E 's/[^a-z0-9 _-]//g; s/ /-/g'
}

# The heading ids of a Markdown file (fenced code blocks skipped).
anchors_of() {
  awk '/^[[:space:]]*```/ { fence = !fence; next }
       !fence && /^#+[[:space:]]/ { sub(/^#+[[:space:]]+/, ""); sub(/[[:space:]]+#*$/, ""); print }' "$1" \
    | slugify
}

dangling=()
report() { dangling+=("$1:$2: $3"); }

# `target` (a path, maybe with #anchor) exists relative to `base`; for .md targets with an
# anchor, the anchor is one of the file's headings.
resolves() {
  local base="$1" target="$2" path anchor
  path="${target%%#*}"
  anchor=""
  [[ "$target" == *"#"* ]] && anchor="${target#*#}"
  [[ -n "$path" ]] || return 1
  [[ -e "$base/$path" ]] || return 1
  if [[ -n "$anchor" && "$path" == *.md && -f "$base/$path" ]]; then
    anchors_of "$base/$path" | grep -qxF -- "$anchor" || return 1
  fi
  return 0
}

# 1. docs/NAME.md[#anchor], anywhere.
while IFS= read -r hit; do
  file="${hit%%:*}"; rest="${hit#*:}"; line="${rest%%:*}"; ref="${rest#*:}"
  ref="$(sed -E 's|^[^d]*||' <<<"$ref")"
  resolves "." "$ref" || report "$file" "$line" "$ref"
done < <(scan -o '(^|[^A-Za-z0-9_./-])docs/[A-Za-z0-9_.-]+\.md(#[A-Za-z0-9_-]+)?')

# 2. Relative Markdown links in *.md files.
while IFS= read -r hit; do
  file="${hit%%:*}"; rest="${hit#*:}"; line="${rest%%:*}"; ref="${rest#*:}"
  ref="${ref#](}"; ref="${ref%)}"
  case "$ref" in
    http://* | https://* | mailto:*) continue ;;
    "#"*)
      anchors_of "$file" | grep -qxF -- "${ref#\#}" || report "$file" "$line" "$ref" ;;
    *)
      resolves "$(dirname "$file")" "$ref" || report "$file" "$line" "$ref" ;;
  esac
done < <(scan -o --include='*.md' '\]\([^)[:space:]]+\)')

# 3. Bare NAME.md: beside the naming file, or at the root.
while IFS= read -r hit; do
  file="${hit%%:*}"; rest="${hit#*:}"; line="${rest%%:*}"; ref="${rest#*:}"
  ref="$(sed -E 's|^[^A-Za-z0-9_-]||' <<<"$ref")"
  [[ -e "$(dirname "$file")/$ref" || -e "$ref" ]] || report "$file" "$line" "$ref"
done < <(scan -o '(^|[^A-Za-z0-9_./-])[A-Za-z0-9_-]+\.md')

# 4. "contract", a section sign, a number (the pattern is spelled in two parts below so
#    that this script does not match itself).
section_of_contract='contract'' §'
while IFS= read -r hit; do
  file="${hit%%:*}"; rest="${hit#*:}"; line="${rest%%:*}"; ref="${rest#*:}"
  report "$file" "$line" "$ref"
done < <(scan -oi "${section_of_contract}[0-9.]*[0-9]")

# 5. A bare §N on a line naming no document (an RFC, a .md file or the contract).
while IFS= read -r hit; do
  file="${hit%%:*}"; rest="${hit#*:}"; line="${rest%%:*}"; text="${rest#*:}"
  grep -qiE "RFC ?[0-9]+|\\.md|${section_of_contract}" <<<"$text" && continue
  while IFS= read -r sec; do
    report "$file" "$line" "$sec"
  done < <(grep -oE '§[0-9]+(\.[0-9]+)*' <<<"$text")
done < <(scan '§[0-9]')

if ((${#dangling[@]} == 0)); then
  exit 0
fi
printf '%s\n' "${dangling[@]}" | sort -u | sort -t: -k1,1 -k2,2n
echo "$(printf '%s\n' "${dangling[@]}" | sort -u | wc -l) dangling document reference(s)" >&2
exit 1
