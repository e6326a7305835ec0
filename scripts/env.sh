# Sourced by ./jvisor, ./test.sh and bench scripts: finds a JDK 22+ and the project's paths.
# No one should have to set JAVA_HOME by hand, so we look in the usual places ourselves.

jvisor_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

jdk_major() { # prints the feature version of the JDK at $1, or nothing
  local rel="$1/release"
  [ -x "$1/bin/java" ] && [ -x "$1/bin/javac" ] || return 1
  if [ -f "$rel" ]; then
    sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$rel"
  else
    "$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1
  fi
}

find_jdk() {
  local cand v
  for cand in "${JAVA_HOME:-}" /usr/lib/jvm/*; do
    [ -n "$cand" ] && [ -d "$cand" ] || continue
    v=$(jdk_major "$cand" 2>/dev/null) || continue
    if [ -n "$v" ] && [ "$v" -ge 22 ]; then echo "$cand"; return 0; fi
  done
  return 1
}

if ! JAVA_HOME=$(find_jdk); then
  echo "jvisor: no JDK 22 or newer found (looked at \$JAVA_HOME and /usr/lib/jvm/*)" >&2
  echo "jvisor: install one, e.g. apt-get install openjdk-25-jdk-headless" >&2
  exit 2
fi
export JAVA_HOME
export PATH="$JAVA_HOME/bin:$PATH"
# Maven's own libraries use sun.misc.Unsafe, which JDK 24+ warns about on every build.
if [ "$(jdk_major "$JAVA_HOME")" -ge 24 ]; then
  case "${MAVEN_OPTS:-}" in *sun-misc-unsafe*) ;; *) export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow" ;; esac
fi

# Rebuild the jar when any source or the pom is newer than it.
jvisor_jar="$jvisor_root/target/jvisor.jar"
jvisor_build_if_stale() {
  if [ ! -f "$jvisor_jar" ] || [ -n "$(find "$jvisor_root/src/main" "$jvisor_root/pom.xml" -newer "$jvisor_jar" -print -quit)" ]; then
    echo "jvisor: building..." >&2
    (cd "$jvisor_root" && mvn -B -q -Dstyle.color=never -DskipTests package) >&2 || { echo "jvisor: build failed" >&2; exit 2; }
  fi
}
