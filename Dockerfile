# One image per job, used both to launch its Flex Template and as the workers' SDK container, so the launcher
# and the workers run the same Beam (the version pinned in requirements.txt; a test keeps the two equal).
#   docker build --build-arg JOB=generate -t REGION-docker.pkg.dev/PROJECT/REPO/generate:TAG .
# or all four in one Cloud Build: cloudbuild.yaml. The images differ only in their last layer (PIPELINE_JOB).
ARG BEAM_VERSION=2.77.0
FROM gcr.io/dataflow-templates-base/python311-template-launcher-base:latest AS launcher

FROM apache/beam_python3.11_sdk:${BEAM_VERSION}
COPY --from=launcher /opt/google/dataflow/python_template_launcher /opt/google/dataflow/python_template_launcher

WORKDIR /template
COPY setup.py pyproject.toml MANIFEST.in requirements.txt README.md ./
# setup.py's IMAGE_PACKAGES, and the template entry point (run as a file); a test keeps the two lists equal. Not the
# commands run from a user's machine only (setup.py's LOCAL_PACKAGES: the local emulator stack, the SQL installer).
COPY datagen ./datagen
COPY functions ./functions
COPY mldp ./mldp
COPY pipelines ./pipelines
COPY transforms ./transforms
COPY templates ./templates
RUN pip install --no-cache-dir /template

ARG JOB=generate
ENV PIPELINE_JOB=${JOB} \
    FLEX_TEMPLATE_PYTHON_PY_FILE=/template/templates/launch.py
# The project is installed in the image: run the template with sdk_container_image set to this image, so the
# workers need no setup.py. Workers start the SDK harness; the launcher runs python_template_launcher.
ENTRYPOINT ["/opt/apache/beam/boot"]
