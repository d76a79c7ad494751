//! placeholder: the CSV driver is being written (lead needs the workspace to build meanwhile).
