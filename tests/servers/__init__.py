"""The real servers the tests run against, one module per server; ``tests/conftest.py``
starts each ordinary one once per session as a fixture.

============  ===============================  ========================  ==========================================
module        server                           conftest fixture(s)       reused when set
============  ===============================  ========================  ==========================================
``s3``        SeaweedFS, moto (S3)             ``seaweedfs``, ``moto``   ``ARTIFACT_FS_TEST_SEAWEEDFS_ENDPOINT``,
                                                                         ``ARTIFACT_FS_TEST_MOTO_ENDPOINT``
``s3_tls``    SeaweedFS with a TLS S3 gateway  (test_server_tls.py)      never
``azure``     Azurite (Blob)                   ``azurite``,              ``ARTIFACT_FS_TEST_AZURITE_ENDPOINT``,
                                               ``azurite_https``         ``ARTIFACT_FS_TEST_AZURITE_HTTPS_ENDPOINT``
``gcs``       fake-gcs-server                  ``fake_gcs``              ``ARTIFACT_FS_TEST_GCS_ENDPOINT``
``sftp``      OpenSSH sshd                     ``sftp``, ``sshd``        ``ARTIFACT_FS_TEST_SFTP_ENDPOINT`` (``sftp``)
``ftp``       pyftpdlib                        ``ftp``, ``pyftpdlib``    ``ARTIFACT_FS_TEST_FTP_URL`` (``ftp``)
``hdfs``      Hadoop 2.7.3 NameNode+DataNode   ``hdfs``                  ``ARTIFACT_FS_TEST_HDFS_URL``
``mlflow``    ``mlflow server`` (tracking)     (each module its own)     never
``common``    shared helpers: ports, binaries, readiness, stopping, a throwaway CA
============  ===============================  ========================  ==========================================

Every server is started on free ports on 127.0.0.1, polled until it works and always
stopped; one that cannot start raises ``RuntimeError`` (the tests fail, never skip).
A test that needs a server of its own (paused, killed, with other options) calls the
module's context manager itself, with ``reuse=False`` where the module takes it.
"""
