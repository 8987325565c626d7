"""Client adjustments the scheme table names, one module per backend family: small
functions on an opened filesystem that set up what no constructor argument reaches, or
probe its state. Rows of :mod:`artifact_fs.backends` reference them (``prepare``,
``connection_probe``, checksum rules, ``abort_stale_uploads``); they hold no table data.
"""

from __future__ import annotations

from .azure import (  # noqa: F401 - the index the table refers to
    EXACT_NAME_LOOKUPS,
    azure_client_setup,
    azure_directory_listing_in_one_request,
    azure_exact_names,
    azure_sdk_sizes,
    azure_without_client_retries,
)
from .ftp import (  # noqa: F401 - the index the table refers to
    FTP_STREAM_BLOCK,
    ftp_client_setup,
    ftp_connection_lost,
    ftp_makedirs_by_mkd,
    ftp_whole_file_transfers,
)
from .s3 import (  # noqa: F401 - the index the table refers to
    S3Published,
    S3_PART_HEADS_IN_FLIGHT,
    S3_PART_SIZE_METADATA,
    S3_PUBLISHED_ATTR,
    S3_PUBLISHED_REMEMBERED,
    s3_abort_stale_uploads,
    s3_client_setup,
    s3_end_to_end_digests,
    s3_etag_is_md5,
    s3_part_sizes,
    s3_parts_in_a_sliding_window,
    s3_published,
    s3_recorded_part_size,
    s3_without_expect_continue,
)
from .sftp import (  # noqa: F401 - the index the table refers to
    sftp_put_skipping_made_parents,
)
