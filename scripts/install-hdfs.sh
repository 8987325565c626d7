#!/usr/bin/env bash
# Installs what the HDFS tests' server needs: a real Hadoop 2.7.3 NameNode + DataNode.
#
# No registry ships a Hadoop distribution, but PyPI's pyspark 2.4.8 *source* package
# bundles the full hadoop-hdfs 2.7.3 jar (server classes included) and the libraries
# it runs with. This script downloads that sdist with pip, keeps only the jars a
# NameNode and DataNode need (.cache/hadoop27/cp), adds Debian's Jersey 1 packages
# (WebHDFS needs Jersey 1; Spark ships Jersey 2, which is left out) and the empty
# webapps/ tree HttpServer2 looks up on the classpath (.cache/hadoop27/res).
# It runs on the machine's Java (17 works). Nothing is committed to the repository.
#
# Idempotent: a second run only checks a stamp and exits. Run as root on Debian 12.
# The tests find the result through $ARTIFACT_FS_HADOOP27_HOME (default .cache/hadoop27).
set -euo pipefail
cd "$(dirname "$0")/.."

home="${ARTIFACT_FS_HADOOP27_HOME:-$PWD/.cache/hadoop27}"
debs="libjersey1-core-java libjersey1-server-java libjersey1-servlet-java libjersey1-json-java libjsr311-api-java"
jersey_jars="jersey1-core jersey1-server jersey1-servlet jersey1-json jsr311-api"
# The jars of pyspark-2.4.8/deps/jars that HDFS 2.7.3 runs with (globs, one per library).
wanted_jars=(
    hadoop-annotations-2.7.3 hadoop-auth-2.7.3 hadoop-common-2.7.3 hadoop-hdfs-2.7.3
    guava-14.0.1 protobuf-java-2.5.0 htrace-core-3.1.0-incubating
    commons-cli-* commons-codec-* commons-collections-* commons-configuration-*
    commons-digester-* commons-beanutils-* commons-io-* commons-lang-2.* commons-logging-*
    commons-math3-* commons-net-* commons-compress-* commons-httpclient-*
    jackson-core-asl-* jackson-mapper-asl-* jackson-jaxrs-* jackson-xc-*
    jetty-6.* jetty-util-6.* javax.servlet-api-* jsp-api-*
    log4j-1.* slf4j-api-* slf4j-log4j12-*
    netty-3.* netty-all-4.* leveldbjni-all-*
    xercesImpl-* xmlenc-* jsr305-* gson-* avro-1.* paranamer-* snappy-java-* xz-*
    zookeeper-* curator-client-* curator-framework-* curator-recipes-*
    httpclient-* httpcore-* apacheds-i18n-* apacheds-kerberos-codec-* api-asn1-api-* api-util-*
    activation-* jaxb-api-*
)
stamp_text="pyspark==2.4.8 ${wanted_jars[*]} $jersey_jars"
stamp="$home/.installed"

java_ok() { command -v java >/dev/null 2>&1 && java -version >/dev/null 2>&1; }
debs_ok() { for deb in $debs; do dpkg -s "$deb" >/dev/null 2>&1 || return 1; done; }

if java_ok && debs_ok && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$stamp_text" ]; then
    exit 0
fi

# --- Debian packages: Java (if missing) and Jersey 1 --------------------------------------
missing=""
java_ok || missing="openjdk-17-jre-headless"
debs_ok || missing="$missing $debs"
if [ -n "$missing" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-hdfs.sh: installing$missing needs root" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086
    if ! apt-get install -y --no-install-recommends $missing; then
        apt-get update
        # shellcheck disable=SC2086
        apt-get install -y --no-install-recommends $missing
    fi
fi

# --- Hadoop jars from the pyspark 2.4.8 sdist --------------------------------------------
if [ -x .venv/bin/python ]; then python=.venv/bin/python; else python="${PYTHON:-python3}"; fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# pyspark's setup.py calls pypandoc.convert (gone since pypandoc 1.8) while pip prepares
# its metadata: pin the build dependency so the download succeeds.
echo "pypandoc<1.8" >"$work/build-constraints.txt"
download=("$python" -m pip download --quiet --no-deps --no-binary :all: -d "$work" pyspark==2.4.8)
if ! "${download[@]}" --build-constraint "$work/build-constraints.txt"; then
    PIP_CONSTRAINT="$work/build-constraints.txt" "${download[@]}"  # pips without --build-constraint
fi
tar -xzf "$work"/pyspark-2.4.8.tar.gz -C "$work" --wildcards 'pyspark-2.4.8/deps/jars/*.jar'
jars="$work/pyspark-2.4.8/deps/jars"

rm -rf "$home.new"
mkdir -p "$home.new/cp"
for pattern in "${wanted_jars[@]}"; do
    found=0
    for jar in "$jars"/$pattern.jar; do
        [ -f "$jar" ] || continue
        cp "$jar" "$home.new/cp/"
        found=1
    done
    if [ "$found" = 0 ]; then
        echo "install-hdfs.sh: no $pattern.jar in pyspark 2.4.8's deps/jars" >&2
        exit 1
    fi
done
for jar in $jersey_jars; do
    ln -s "/usr/share/java/$jar.jar" "$home.new/cp/$jar.jar"
done
# HttpServer2 refuses to start unless webapps/<name> is on the classpath (Spark removed them).
for app in hdfs datanode secondary journal; do
    mkdir -p "$home.new/res/webapps/$app/WEB-INF"
    printf '<web-app version="2.5" xmlns="http://java.sun.com/xml/ns/javaee"/>\n' \
        >"$home.new/res/webapps/$app/WEB-INF/web.xml"
done
echo "$stamp_text" >"$home.new/.installed"
rm -rf "$home"
mv "$home.new" "$home"
echo "install-hdfs.sh: Hadoop 2.7.3 classpath in $home ($(ls "$home/cp" | wc -l) jars)"
